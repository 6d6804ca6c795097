/* tui/cli.c: the command line, good and bad. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tui/cli.h"

/* argv from a space-separated line ("" gives argc 1). Each parse gets buffers of its own that are
 * never reused within a test, so what cli->cmd and cli->output point into stays valid, and so
 * getopt's memory of an earlier parse (see test_reparse_forgets_state) points at unchanged
 * bytes instead of at the next command line. */
#define MAX_WORDS 32
#define MAX_PARSES 64
static char words_buf[MAX_PARSES][512];
static char *words[MAX_PARSES][MAX_WORDS + 1];
static int nparses;

/* What lt_cli_parse wrote to stderr during the last parse(). */
static char err_text[4096];

static int
parse(lt_cli *cli, const char *line)
{
    ck_assert_int_lt(nparses, MAX_PARSES);
    char *buf = words_buf[nparses];
    char **argv = words[nparses];
    nparses++;
    snprintf(buf, sizeof words_buf[0], "leaktop%s%s", line[0] ? " " : "", line);
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w != NULL;
         w = strtok_r(NULL, " ", &save)) {
        ck_assert_int_lt(argc, MAX_WORDS);
        argv[argc++] = w;
    }
    argv[argc] = NULL;

    /* Catch stderr in a temporary file. */
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *tf = tmpfile();
    ck_assert_ptr_nonnull(tf);
    dup2(fileno(tf), STDERR_FILENO);
    int rc = lt_cli_parse(cli, argc, argv);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tf);
    size_t n = fread(err_text, 1, sizeof err_text - 1, tf);
    err_text[n] = '\0';
    fclose(tf);
    return rc;
}

/* A refused command line: status 2, a reason containing why, then the usage line. */
static void
refused(const char *line, const char *why)
{
    lt_cli cli;
    ck_assert_msg(parse(&cli, line) == 2, "'%s' was accepted", line);
    ck_assert_msg(strncmp(err_text, "leaktop: ", 9) == 0, "'%s': no reason: %s", line, err_text);
    ck_assert_msg(strstr(err_text, why) != NULL, "'%s': reason lacks '%s': %s", line, why,
                  err_text);
    ck_assert_msg(strstr(err_text, "\nusage: leaktop") != NULL, "'%s': no usage line", line);
}

START_TEST(test_picker_help_version)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, ""), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_PICKER);
    ck_assert_int_eq(cli.pid, 0);
    ck_assert_ptr_null(cli.cmd);
    ck_assert_str_eq(err_text, "");

    static const char *helps[] = {"--help", "-h", "help", "check --help", "run -h"};
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        ck_assert_int_eq(parse(&cli, helps[i]), 0);
        ck_assert_msg(cli.mode == LT_MODE_HELP, "'%s' is not help", helps[i]);
    }
    ck_assert_int_eq(parse(&cli, "--version"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_VERSION);
    ck_assert_int_eq(parse(&cli, "-V"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_VERSION);
}
END_TEST

START_TEST(test_pid_modes)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "1234"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_PID);
    ck_assert_int_eq(cli.pid, 1234);
    ck_assert_int_eq(parse(&cli, "attach 77"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_ATTACH);
    ck_assert_int_eq(cli.pid, 77);
    ck_assert_int_eq(parse(&cli, "4194304"), 0); /* the kernel's largest pid */

    refused("1234 extra", "after the PID");
    refused("0", "unknown command");
    refused("-5", "unknown command");
    refused("4194305", "unknown command");
    refused("12abc", "unknown command");
    refused("attach", "attach needs one process id");
    refused("attach x", "attach needs one process id");
    refused("attach 1 2", "attach needs one process id");
    refused("frobnicate", "unknown command 'frobnicate'");
}
END_TEST

START_TEST(test_replay)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "replay incident.lktp"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_REPLAY);
    ck_assert_str_eq(cli.file, "incident.lktp");
    refused("replay", "replay needs one recording file");
    refused("replay a b", "replay needs one recording file");
}
END_TEST

START_TEST(test_check_defaults)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "check -- python3 app.py"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_CHECK);
    ck_assert_double_eq(cli.duration, 30);
    ck_assert_double_eq(cli.interval, 0);
    ck_assert_uint_eq(cli.top, 50);
    ck_assert_int_eq(cli.json, 0);
    ck_assert_int_eq(cli.keep, 0);
    ck_assert_int_eq(cli.quiet, 0);
    ck_assert_int_eq(cli.pid, 0);
    ck_assert_ptr_null(cli.output);
    ck_assert_ptr_nonnull(cli.cmd);
    ck_assert_str_eq(cli.cmd[0], "python3");
    ck_assert_str_eq(cli.cmd[1], "app.py");
    ck_assert_ptr_null(cli.cmd[2]);
    ck_assert_str_eq(err_text, "");
}
END_TEST

START_TEST(test_check_options)
{
    lt_cli cli;
    ck_assert_int_eq(
        parse(&cli, "check --duration 60 --json --top 5 --interval 0.5 --keep --quiet -- "
                    "python3 -m svc"),
        0);
    ck_assert_double_eq(cli.duration, 60);
    ck_assert_int_eq(cli.json, 1);
    ck_assert_uint_eq(cli.top, 5);
    ck_assert_double_eq_tol(cli.interval, 0.5, 1e-12);
    ck_assert_int_eq(cli.keep, 1);
    ck_assert_int_eq(cli.quiet, 1);
    ck_assert_str_eq(cli.cmd[0], "python3");
    ck_assert_str_eq(cli.cmd[2], "svc");

    ck_assert_int_eq(parse(&cli, "check --pid 4242"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_CHECK);
    ck_assert_int_eq(cli.pid, 4242);
    ck_assert_ptr_null(cli.cmd);
    ck_assert_double_eq(cli.duration, 30);

    ck_assert_int_eq(parse(&cli, "check --duration=0 --pid=9"), 0); /* --opt=value works */
    ck_assert_double_eq(cli.duration, 0);
    ck_assert_int_eq(cli.pid, 9);
    ck_assert_int_eq(parse(&cli, "check --duration 2.5 --pid 9"), 0);
    ck_assert_double_eq_tol(cli.duration, 2.5, 1e-12);
}
END_TEST

/* Options stop at "--" or at the program's first word: what follows belongs to the program. */
START_TEST(test_double_dash)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "check -- --json x"), 0);
    ck_assert_int_eq(cli.json, 0);
    ck_assert_str_eq(cli.cmd[0], "--json");
    ck_assert_str_eq(cli.cmd[1], "x");

    ck_assert_int_eq(parse(&cli, "check python3 --json"), 0);
    ck_assert_int_eq(cli.json, 0);
    ck_assert_str_eq(cli.cmd[0], "python3");
    ck_assert_str_eq(cli.cmd[1], "--json");
    ck_assert_ptr_null(cli.cmd[2]);

    ck_assert_int_eq(parse(&cli, "run -- python3 -- -x"), 0);
    ck_assert_str_eq(cli.cmd[0], "python3");
    ck_assert_str_eq(cli.cmd[1], "--");
    ck_assert_str_eq(cli.cmd[2], "-x");

    /* "--" with nothing after it is no program. */
    refused("check --", "needs a program");
    refused("run --", "run needs a program");
}
END_TEST

START_TEST(test_check_refusals)
{
    refused("check", "needs a program (-- CMD ...), --pid PID or --socket PATH");
    refused("check --pid 42 -- python3 app.py", "takes one of");
    refused("record -o f --pid 42 -- python3", "takes one of");
    refused("check --socket s --pid 42", "takes one of");
    refused("check --socket s -- python3", "takes one of");
    refused("check --socket s --keep", "--keep is about a program");
    refused("check --socket=", "--socket needs the path");
    refused("run --socket s -- python3", "leaktop PID");
    refused("metrics --socket s", "metrics takes");
    refused("check --pid abc", "--pid needs a process id, not 'abc'");
    refused("check --pid 0", "--pid needs a process id");
    refused("check --pid 12x", "--pid needs a process id");
    refused("check --pid -3", "--pid needs a process id");
    refused("check --duration -1 --pid 1", "--duration needs a number of seconds");
    refused("check --duration abc --pid 1", "--duration needs a number of seconds");
    refused("check --duration nan --pid 1", "--duration needs a number of seconds");
    refused("check --duration 1e9 --pid 1", "--duration needs a number of seconds");
    refused("check --interval 0.001 --pid 1", "--interval needs seconds between");
    refused("check --interval 4000 --pid 1", "--interval needs seconds between");
    refused("check --top 0 --pid 1", "--top needs a positive count");
    refused("check -o out.json --pid 1", "-o is for record");
    refused("check --bogus --pid 1", "unknown or incomplete option --bogus");
    refused("check -z --pid 1", "unknown or incomplete option -z");
    refused("check --pid", "unknown or incomplete option --pid");
    refused("record --pid 1 -o", "unknown or incomplete option -o");
}
END_TEST

START_TEST(test_record)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "record -o incident.lktp --pid 3"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_RECORD);
    ck_assert_str_eq(cli.output, "incident.lktp");
    ck_assert_int_eq(cli.pid, 3);
    ck_assert(cli.duration < 0); /* until the program or agent ends */

    ck_assert_int_eq(parse(&cli, "record --output=r.lktp --duration 5 -- python3 x.py"), 0);
    ck_assert_str_eq(cli.output, "r.lktp");
    ck_assert_double_eq(cli.duration, 5);
    ck_assert_str_eq(cli.cmd[0], "python3");

    refused("record --pid 3", "record needs -o FILE");
    refused("record -- python3", "record needs -o FILE");
    refused("record -o f", "needs a program");
}
END_TEST

/* A socket by path: the TUI's connect, and check/record --socket (a forwarded agent). */
START_TEST(test_socket_path)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "connect /tmp/fwd.sock"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_CONNECT);
    ck_assert_str_eq(cli.socket, "/tmp/fwd.sock");
    ck_assert_int_eq(parse(&cli, "-n 3 connect /tmp/fwd.sock"), 0);
    ck_assert_int_eq(cli.refreshes, 3);
    ck_assert_int_eq(parse(&cli, "check --json --socket /tmp/fwd.sock"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_CHECK);
    ck_assert_str_eq(cli.socket, "/tmp/fwd.sock");
    ck_assert_int_eq(cli.pid, 0);
    ck_assert_ptr_null(cli.cmd);
    ck_assert_int_eq(parse(&cli, "record -o r.lktp --socket=/tmp/fwd.sock"), 0);
    ck_assert_str_eq(cli.socket, "/tmp/fwd.sock");
    refused("connect", "connect needs the path of one agent socket");
    refused("connect a b", "connect needs the path of one agent socket");
    refused("record --socket s", "record needs -o FILE");
}
END_TEST

START_TEST(test_run)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "run --keep --interval 0.1 -- python3 app.py"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_RUN);
    ck_assert_int_eq(cli.keep, 1);
    ck_assert_double_eq_tol(cli.interval, 0.1, 1e-12);
    ck_assert_str_eq(cli.cmd[0], "python3");
    ck_assert(cli.duration < 0);
    refused("run", "run needs a program");
    refused("run --pid 3 -- python3", "leaktop PID");
}
END_TEST

/* Each parse starts afresh: a previous parse that stopped inside a cluster of short options
 * ("-hx") must not leak into the next one. Fails until tui/cli.c resets getopt with optind = 0
 * (glibc's full re-initialisation) instead of optind = 1, which keeps getopt's pointer into the
 * previous argv. */
START_TEST(test_reparse_forgets_state)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "check -hx"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_HELP);
    ck_assert_int_eq(parse(&cli, "check --pid 5"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_CHECK);
    ck_assert_int_eq(cli.pid, 5);
}
END_TEST

START_TEST(test_metrics)
{
    lt_cli cli;
    ck_assert_int_eq(parse(&cli, "metrics"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_METRICS);
    ck_assert_ptr_null(cli.listen);
    ck_assert_int_eq(cli.pid, 0);
    ck_assert_uint_eq(cli.top, 0); /* the exporter's default */
    ck_assert_double_eq(cli.interval, 0);
    ck_assert_int_eq(
        parse(&cli, "metrics --listen 127.0.0.1:9999 --pid 42 --top 5 --interval 0.5"), 0);
    ck_assert_int_eq(cli.mode, LT_MODE_METRICS);
    ck_assert_str_eq(cli.listen, "127.0.0.1:9999");
    ck_assert_int_eq(cli.pid, 42);
    ck_assert_uint_eq(cli.top, 5);
    ck_assert_double_eq(cli.interval, 0.5);
    refused("metrics -- python3 app.py", "unexpected argument 'python3'");
    refused("metrics extra", "unexpected argument 'extra'");
    refused("metrics --json", "metrics takes --listen");
    refused("metrics --duration 5", "metrics takes --listen");
    refused("metrics -o x", "metrics takes --listen");
    refused("metrics --listen", "unknown or incomplete option");
    refused("metrics --pid x", "--pid needs a process id");
    refused("check --listen 127.0.0.1:1 --pid 5", "--listen is an option of metrics");
    ck_assert_ptr_null(cli.auth_file);
    ck_assert_int_eq(parse(&cli, "metrics --auth /etc/leaktop/auth --listen unix:/run/m.sock"),
                     0);
    ck_assert_str_eq(cli.auth_file, "/etc/leaktop/auth");
    ck_assert_str_eq(cli.listen, "unix:/run/m.sock");
    refused("check --auth f --pid 5", "--auth is an option of metrics");
    refused("metrics --auth", "unknown or incomplete option");
}
END_TEST

START_TEST(test_usage_and_help_text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    lt_cli_usage(f);
    fflush(f);
    ck_assert_int_eq(strncmp(buf, "usage: leaktop", 14), 0);
    ck_assert_int_eq(buf[len - 1], '\n');
    fclose(f);
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    lt_cli_help(f);
    fflush(f);
    ck_assert_ptr_nonnull(strstr(buf, "leaktop " LEAKTOP_VERSION));
    ck_assert_ptr_nonnull(strstr(buf, "check"));
    ck_assert_ptr_nonnull(strstr(buf, "XDG_RUNTIME_DIR"));
    fclose(f);
    free(buf);
}
END_TEST

static Suite *
cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = lt_test_tcase(s, "cli");
    tcase_add_test(tc, test_picker_help_version);
    tcase_add_test(tc, test_pid_modes);
    tcase_add_test(tc, test_replay);
    tcase_add_test(tc, test_check_defaults);
    tcase_add_test(tc, test_check_options);
    tcase_add_test(tc, test_double_dash);
    tcase_add_test(tc, test_check_refusals);
    tcase_add_test(tc, test_record);
    tcase_add_test(tc, test_run);
    tcase_add_test(tc, test_socket_path);
    tcase_add_test(tc, test_reparse_forgets_state);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_usage_and_help_text);
    return s;
}

int
main(void)
{
    return lt_test_run(cli_suite());
}
