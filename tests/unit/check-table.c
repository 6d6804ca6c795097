/* tui/table.c: rows, sorting and a selection that follows its row (drawing is not tested here:
 * it needs curses; tests/integration/test_tui.py drives it in tmux). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/table.h"

/* The Types view's shape: a flexible name column, numbers, and a sparkline. */
static const lt_table_col cols[] = {
    {"TYPE", 0, 0},
    {"COUNT", 10, 1},
    {"CHANGE", 10, 1},
    {"TREND", 20, 0},
};
enum { COL_NAME, COL_COUNT, COL_CHANGE, COL_TREND };

static void
table_init(lt_table *t)
{
    memset(t, 0, sizeof *t);
    t->cols = cols;
    t->ncols = 4;
    t->spark_col = COL_TREND;
}

static void
add(lt_table *t, const char *name, uint64_t key, double count, double change)
{
    lt_table_row *r = lt_table_add(t);
    ck_assert_ptr_nonnull(r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->key = key;
    r->sort_key[COL_COUNT] = count;
    r->sort_key[COL_CHANGE] = change;
}

/* The names of the rows in order, joined by spaces. */
static const char *
order(const lt_table *t)
{
    static char buf[1024];
    buf[0] = '\0';
    for (int i = 0; i < t->nrows; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, t->rows[i].name);
    }
    return buf;
}

static const char *
selected_name(const lt_table *t)
{
    const lt_table_row *r = lt_table_selected(t);
    return r ? r->name : "(none)";
}

/* Rows as a view builds them: in the order the model has them, not sorted. */
static void
build(lt_table *t, const double counts[4])
{
    lt_table_clear(t);
    add(t, "b.Beta", 2, counts[1], 0);
    add(t, "a.Alpha", 1, counts[0], 0);
    add(t, "d.Delta", 4, counts[3], 0);
    add(t, "c.Gamma", 3, counts[2], 0);
}

START_TEST(test_add_zeroes_and_grows)
{
    uint64_t base = lt_mem_in_use();
    lt_table t;
    table_init(&t);
    for (int i = 0; i < 300; i++) {
        lt_table_row *r = lt_table_add(&t);
        ck_assert_ptr_nonnull(r);
        /* Every row comes zeroed, even a reused one. */
        ck_assert_str_eq(r->name, "");
        ck_assert_uint_eq(r->key, 0);
        ck_assert_int_eq(r->nspark, 0);
        ck_assert(r->sort_key[COL_COUNT] == 0.0);
        ck_assert_str_eq(r->cells[COL_COUNT], "");
        r->key = (uint64_t)i + 1;
        snprintf(r->name, sizeof r->name, "row%d", i);
        snprintf(r->cells[COL_COUNT], sizeof r->cells[COL_COUNT], "%d", i);
        r->nspark = 3;
    }
    ck_assert_int_eq(t.nrows, 300);
    ck_assert_int_ge(t.cap, 300);
    /* Growing kept what the rows held. */
    for (int i = 0; i < 300; i++)
        ck_assert_uint_eq(t.rows[i].key, (uint64_t)i + 1);
    ck_assert_str_eq(t.rows[299].name, "row299");
    int cap = t.cap;
    lt_table_clear(&t);
    ck_assert_int_eq(t.nrows, 0);
    ck_assert_int_eq(t.cap, cap); /* clearing keeps the memory for the next build */
    ck_assert_ptr_null(lt_table_selected(&t));
    lt_table_row *r = lt_table_add(&t);
    ck_assert_str_eq(r->name, "");
    ck_assert_int_eq(r->nspark, 0);
    lt_table_free(&t);
    ck_assert_ptr_null(t.rows);
    ck_assert_int_eq(t.nrows, 0);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_add_out_of_memory)
{
    uint64_t base = lt_mem_in_use();
    lt_table t;
    table_init(&t);
    lt_mem_fail_after(1);
    ck_assert_ptr_null(lt_table_add(&t));
    lt_mem_fail_after(0);
    ck_assert_int_eq(t.nrows, 0);
    for (int i = 0; i < 64; i++)
        ck_assert_ptr_nonnull(lt_table_add(&t));
    /* The 65th needs the table to grow: a failure leaves the 64 rows as they were. */
    t.rows[63].key = 63;
    lt_mem_fail_after(1);
    ck_assert_ptr_null(lt_table_add(&t));
    lt_mem_fail_after(0);
    ck_assert_int_eq(t.nrows, 64);
    ck_assert_uint_eq(t.rows[63].key, 63);
    lt_table_free(&t);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_sort_numbers_descending)
{
    lt_table t;
    table_init(&t);
    const double counts[4] = {10, 300, 20, 5};
    build(&t, counts);
    lt_table_sort(&t, COL_COUNT);
    ck_assert_str_eq(order(&t), "b.Beta c.Gamma a.Alpha d.Delta");
    /* Ties go by name, ascending, whatever order they came in. */
    lt_table_clear(&t);
    add(&t, "z", 1, 7, 0);
    add(&t, "m", 2, 9, 0);
    add(&t, "a", 3, 7, 0);
    add(&t, "k", 4, -1, 0);
    lt_table_sort(&t, COL_COUNT);
    ck_assert_str_eq(order(&t), "m a z k");
    /* Another column sorts by its own key. */
    lt_table_clear(&t);
    add(&t, "x", 1, 100, -5);
    add(&t, "y", 2, 1, 50);
    add(&t, "w", 3, 50, 0);
    lt_table_sort(&t, COL_CHANGE);
    ck_assert_str_eq(order(&t), "y w x");
    lt_table_sort(&t, COL_COUNT);
    ck_assert_str_eq(order(&t), "x w y");
    lt_table_free(&t);
}
END_TEST

START_TEST(test_sort_name_ascending)
{
    lt_table t;
    table_init(&t);
    const double counts[4] = {10, 300, 20, 5};
    build(&t, counts);
    lt_table_sort(&t, COL_NAME);
    ck_assert_str_eq(order(&t), "a.Alpha b.Beta c.Gamma d.Delta");
    /* Byte order: capitals before lower case, "ab" before "abc". */
    lt_table_clear(&t);
    add(&t, "abc", 1, 0, 0);
    add(&t, "b", 2, 0, 0);
    add(&t, "Z", 3, 0, 0);
    add(&t, "ab", 4, 0, 0);
    lt_table_sort(&t, COL_NAME);
    ck_assert_str_eq(order(&t), "Z ab abc b");
    lt_table_free(&t);
}
END_TEST

START_TEST(test_sort_bad_column_or_empty)
{
    lt_table t;
    table_init(&t);
    lt_table_sort(&t, COL_COUNT); /* empty: nothing to do, nothing to crash on */
    const double counts[4] = {10, 300, 20, 5};
    build(&t, counts);
    lt_table_sort(&t, -1);
    ck_assert_str_eq(order(&t), "b.Beta a.Alpha d.Delta c.Gamma");
    lt_table_sort(&t, 4);
    ck_assert_str_eq(order(&t), "b.Beta a.Alpha d.Delta c.Gamma");
    lt_table_free(&t);
}
END_TEST

/* Until the user moves, the selection is a position: the top row, whatever it is now. */
START_TEST(test_selection_stays_at_its_position)
{
    lt_table t;
    table_init(&t);
    double counts[4] = {10, 300, 20, 5};
    build(&t, counts);
    lt_table_sort(&t, COL_COUNT);
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 0);
    ck_assert_str_eq(selected_name(&t), "b.Beta");
    ck_assert_int_eq(t.have_selected_key, 0);
    /* A new leader after the next rebuild: the selection is still the top row. */
    counts[3] = 1000;
    build(&t, counts);
    lt_table_sort(&t, COL_COUNT);
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 0);
    ck_assert_str_eq(selected_name(&t), "d.Delta");
    lt_table_free(&t);
}
END_TEST

/* Once the user moved, the selection follows the row's key across rebuilds and sorts. */
START_TEST(test_selection_follows_the_row)
{
    lt_table t;
    table_init(&t);
    double counts[4] = {10, 300, 20, 5};
    build(&t, counts);
    lt_table_sort(&t, COL_COUNT); /* Beta Gamma Alpha Delta */
    lt_table_reselect(&t);
    lt_table_move(&t, 2);
    ck_assert_int_eq(t.selected, 2);
    ck_assert_str_eq(selected_name(&t), "a.Alpha");
    ck_assert_int_eq(t.have_selected_key, 1);
    ck_assert_uint_eq(t.selected_key, 1);
    /* Alpha climbs to the top. */
    counts[0] = 5000;
    build(&t, counts);
    ck_assert_int_eq(t.selected, 2); /* before reselect the index is stale */
    lt_table_sort(&t, COL_COUNT);
    ck_assert_str_eq(order(&t), "a.Alpha b.Beta c.Gamma d.Delta");
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 0);
    ck_assert_str_eq(selected_name(&t), "a.Alpha");
    /* And to the bottom. */
    counts[0] = 1;
    build(&t, counts);
    lt_table_sort(&t, COL_COUNT);
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 3);
    ck_assert_str_eq(selected_name(&t), "a.Alpha");
    /* A sort by another column: the row is followed there too. */
    lt_table_sort(&t, COL_NAME);
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 0);
    ck_assert_str_eq(selected_name(&t), "a.Alpha");
    lt_table_free(&t);
}
END_TEST

/* When the followed row is gone, the position stays (clamped to the rows there are), and the
 * key is kept: the row is selected again when it comes back. */
START_TEST(test_selection_when_the_row_goes)
{
    lt_table t;
    table_init(&t);
    const double counts[4] = {10, 300, 20, 5};
    build(&t, counts);
    lt_table_sort(&t, COL_COUNT); /* Beta Gamma Alpha Delta */
    lt_table_move(&t, 3);
    ck_assert_str_eq(selected_name(&t), "d.Delta");
    lt_table_clear(&t);
    add(&t, "b.Beta", 2, 300, 0);
    add(&t, "c.Gamma", 3, 20, 0);
    add(&t, "e.Eps", 5, 1, 0);
    add(&t, "f.Phi", 6, 0, 0);
    add(&t, "g.Gim", 7, 0, 0);
    lt_table_sort(&t, COL_COUNT);
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 3); /* same position */
    ck_assert_str_eq(selected_name(&t), "f.Phi");
    /* Fewer rows than the position: the last row. */
    lt_table_clear(&t);
    add(&t, "b.Beta", 2, 300, 0);
    add(&t, "c.Gamma", 3, 20, 0);
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 1);
    ck_assert_str_eq(selected_name(&t), "c.Gamma");
    /* No rows: nothing selected, and no index out of range. */
    lt_table_clear(&t);
    lt_table_reselect(&t);
    ck_assert_int_eq(t.selected, 0);
    ck_assert_ptr_null(lt_table_selected(&t));
    /* Delta is back: selected again, though the user moved no more. */
    build(&t, counts);
    lt_table_sort(&t, COL_COUNT);
    lt_table_reselect(&t);
    ck_assert_str_eq(selected_name(&t), "d.Delta");
    lt_table_free(&t);
}
END_TEST

START_TEST(test_move_clamps)
{
    lt_table t;
    table_init(&t);
    /* An empty table: moving selects nothing and remembers no key. */
    lt_table_move(&t, 1);
    lt_table_move(&t, -1);
    ck_assert_int_eq(t.selected, 0);
    ck_assert_int_eq(t.have_selected_key, 0);
    ck_assert_ptr_null(lt_table_selected(&t));
    const double counts[4] = {10, 300, 20, 5};
    build(&t, counts);
    lt_table_move(&t, -5);
    ck_assert_int_eq(t.selected, 0);
    ck_assert_uint_eq(t.selected_key, 2); /* b.Beta, the first row as built */
    lt_table_move(&t, 100);
    ck_assert_int_eq(t.selected, 3);
    ck_assert_uint_eq(t.selected_key, 3);
    lt_table_move(&t, -1);
    ck_assert_int_eq(t.selected, 2);
    ck_assert_uint_eq(t.selected_key, 4);
    /* Large page moves do not overflow. */
    lt_table_move(&t, 2147483647);
    ck_assert_int_eq(t.selected, 3);
    lt_table_move(&t, -2147483647 - 1);
    ck_assert_int_eq(t.selected, 0);
    lt_table_free(&t);
}
END_TEST

static Suite *
table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc = lt_test_tcase(s, "table");
    tcase_add_test(tc, test_add_zeroes_and_grows);
    tcase_add_test(tc, test_add_out_of_memory);
    tcase_add_test(tc, test_sort_numbers_descending);
    tcase_add_test(tc, test_sort_name_ascending);
    tcase_add_test(tc, test_sort_bad_column_or_empty);
    tcase_add_test(tc, test_selection_stays_at_its_position);
    tcase_add_test(tc, test_selection_follows_the_row);
    tcase_add_test(tc, test_selection_when_the_row_goes);
    tcase_add_test(tc, test_move_clamps);
    return s;
}

int
main(void)
{
    return lt_test_run(table_suite());
}
