/* "Why is it alive": a breadth-first search up the references to a root (see py_referrers.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent_core.h" /* lt_mono_ns */
#include "fork_gate.h"
#include "gil_holds.h"
#include "leaktop/mem.h"
#include "py_census.h"
#include "py_referrers.h"
#include "py_type_sites.h"

/* ---- a pointer map: object -> the object it refers to on the way to the target ------------ */

typedef struct ptrmap {
    void **keys, **vals;
    uint32_t cap, n;
    uint32_t *order; /* the slots filled, in the order they were (slots never move) */
} ptrmap;

static uint32_t
hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static int
map_init(ptrmap *m, uint32_t cap)
{
    memset(m, 0, sizeof *m);
    m->cap = cap;
    m->keys = lt_calloc(cap, sizeof *m->keys);
    m->vals = lt_calloc(cap, sizeof *m->vals);
    m->order = lt_malloc(cap / 2 * sizeof *m->order);
    return m->keys && m->vals && m->order ? 0 : -1;
}

static void
map_free(ptrmap *m)
{
    lt_free(m->keys);
    lt_free(m->vals);
    lt_free(m->order);
    memset(m, 0, sizeof *m);
}

static uint32_t
map_slot(const ptrmap *m, const void *key)
{
    uint32_t i = hash_ptr(key) & (m->cap - 1);
    while (m->keys[i] != NULL && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int
map_has(const ptrmap *m, const void *key)
{
    return m->keys[map_slot(m, key)] != NULL;
}

static void *
map_get(const ptrmap *m, const void *key)
{
    uint32_t i = map_slot(m, key);
    return m->keys[i] ? m->vals[i] : NULL;
}

/* Insert; returns -1 when the map is full (it never grows during a walk). */
static int
map_put(ptrmap *m, void *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap)
        return -1;
    uint32_t i = map_slot(m, key);
    if (m->keys[i] == NULL) {
        m->keys[i] = key;
        m->order[m->n++] = i;
    }
    m->vals[i] = val;
    return 0;
}

/* ---- names ------------------------------------------------------------------------------ */

void
lt_py_type_name(void *type, char *buf, size_t buflen)
{
    PyTypeObject *tp = type;
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        snprintf(buf, buflen, "%s", tp->tp_name);
        return;
    }
    PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
    const char *qual = NULL, *mod = NULL;
    if (ht->ht_qualname != NULL && PyUnicode_Check(ht->ht_qualname))
        qual = PyUnicode_AsUTF8(ht->ht_qualname);
    if (qual == NULL) {
        PyErr_Clear();
        qual = tp->tp_name;
    }
    PyObject *m = tp->tp_dict ? PyDict_GetItemString(tp->tp_dict, "__module__") : NULL;
    if (m != NULL && PyUnicode_Check(m))
        mod = PyUnicode_AsUTF8(m);
    if (mod == NULL)
        PyErr_Clear();
    if (mod == NULL || strcmp(mod, "builtins") == 0)
        snprintf(buf, buflen, "%s", qual);
    else
        snprintf(buf, buflen, "%s.%s", mod, qual);
}

int
lt_py_type_matches(lt_py_type_match *m, void *type)
{
    uint32_t slot = (uint32_t)(((uintptr_t)type >> 4) * 2654435761u) % LT_PY_TYPE_MATCH_CACHE;
    if (m->cache[slot].type != type) {
        char name[512];
        lt_py_type_name(type, name, sizeof name);
        m->cache[slot].type = type;
        m->cache[slot].match = strcmp(name, m->want) == 0;
    }
    return m->cache[slot].match;
}

/* ---- the search ------------------------------------------------------------------------- */

#define BIG_ITEMS 4096 /* a container with more items than this is looked at in slices */
#define BIG_MAX 64      /* at most this many per level; more are traversed in the walk */

typedef struct search {
    ptrmap seen;       /* every object found, -> the object it refers to (NULL for level 0) */
    PyObject **level;  /* the previous level, as a set lookup goes through `frontier` */
    ptrmap frontier;
    PyObject **next;
    uint32_t nnext, next_cap;
    PyObject *hit;     /* set by visit: the frontier object the current one refers to */
    PyObject *root;
    int full;
    /* the walk in slices (py_census.h), the GIL let go between them */
    lt_py_walk walk;
    uint64_t slice_ns, grace_ns; /* from the pause bound */
    lt_hold_mark hold;           /* when the GIL was last taken */
    double pause_ms, pause_cpu_ms; /* the longest hold so far, wall and CPU */
    double held_ms;                /* the holds so far, in all (wall) */
    const int *stop;               /* atomic, nonzero: the agent is stopping (or NULL) */
    uint32_t holds, slices, restarts;
    /* level 0, the instances: picked in a slice (borrowed: nothing runs meanwhile), held by
     * strong references from the end of that slice (see hold_instances) */
    PyTypeObject *want_type;
    lt_py_type_match *want; /* the type asked about */
    uint64_t instances;
    uint64_t rng;
    PyObject *newest;  /* the instance the allocation sampler picked most recently */
    uint64_t newest_seq;
    PyObject *ring[LT_WHY_YOUNG_MAX]; /* the last instances walked: the youngest, at the end */
    uint64_t nring;
    PyObject *ring_held[LT_WHY_YOUNG_MAX], **next_held, *newest_held;
    PyObject *young[LT_WHY_YOUNG_MAX]; /* the youngest instances, youngest first (borrowed) */
    uint32_t nyoung;
    /* a level's big lists, tuples and dicts: their items are looked at after the walk, in
     * slices of their own (one tp_traverse of a million items would be one long hold) */
    PyObject *big[BIG_MAX]; /* strong */
    uint32_t nbig;
} search;

static int
visit_check(PyObject *referent, void *arg)
{
    search *s = arg;
    if (referent != NULL && map_has(&s->frontier, referent)) {
        s->hit = referent;
        return 1; /* one edge is enough: stop traversing this object */
    }
    return 0;
}

/* A frame is a root while it runs (its locals are the program's). Before 3.11 a suspended
 * generator's or coroutine's frame, or one a traceback keeps, is a frame object too: it is
 * held, not a root (since 3.11 those frames are no objects unless asked for). */
static int
frame_runs(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030B0000
    (void)op;
    return 1;
#elif PY_VERSION_HEX >= 0x030A0000
    return _PyFrame_IsExecuting((PyFrameObject *)op);
#else
    return ((PyFrameObject *)op)->f_executing != 0;
#endif
}

static int
is_root(PyObject *op)
{
    return PyModule_Check(op) || PyType_Check(op) || (PyFrame_Check(op) && frame_runs(op));
}

/* Level 0: instances of the wanted type name, walked oldest first (py_census.h's order), so the
 * last LT_WHY_YOUNG_MAX walked are the youngest. */
static void
collect_instances(PyObject *op, void *arg)
{
    search *s = arg;
    if (!lt_py_type_matches(s->want, Py_TYPE(op)))
        return;
    s->ring[s->nring++ % LT_WHY_YOUNG_MAX] = op;
    /* Keep a spread over the whole walk: every instance until the buffer is full, then every
     * instance replaces a random one (reservoir sampling), so old and new are both there. */
    s->instances++;
    uint64_t seq = lt_py_sampled_seq(op);
    if (seq > s->newest_seq) {
        s->newest_seq = seq;
        s->newest = op;
    }
    if (s->nnext < LT_WHY_START) {
        s->next[s->nnext++] = op;
    } else {
        s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t j = (s->rng >> 33) % s->instances;
        if (j < LT_WHY_START)
            s->next[j] = op;
    }
}

/* Level 0's walk starts over: forget what it picked (hold_instances lets go of it). */
static void
restart_instances(void *arg)
{
    search *s = arg;
    memset(s->ring, 0, sizeof s->ring);
    s->nring = 0;
    s->instances = 0;
    s->nnext = 0;
    s->newest = NULL;
    s->newest_seq = 0;
}

/* Make held the one reference *held holds to `now`: the new one taken at once, the old one put
 * in drop (let go of by the caller, after every new one is taken). */
static void
hold_one(PyObject **held, PyObject *now, PyObject **drop, uint32_t *ndrop)
{
    if (*held == now)
        return;
    Py_XINCREF(now);
    if (*held != NULL)
        drop[(*ndrop)++] = *held;
    *held = now;
}

/* At the end of each slice of level 0, the GIL still held: the instances picked are held by
 * strong references, those no longer picked let go of (which may run their deallocation: the
 * slice is over). */
static void
hold_instances(search *s)
{
    PyObject *drop[LT_WHY_YOUNG_MAX + LT_WHY_START + 1];
    uint32_t ndrop = 0;
    for (uint32_t j = 0; j < LT_WHY_YOUNG_MAX; j++)
        hold_one(&s->ring_held[j], s->ring[j], drop, &ndrop);
    for (uint32_t j = 0; j < LT_WHY_START; j++)
        hold_one(&s->next_held[j], j < s->nnext ? s->next[j] : NULL, drop, &ndrop);
    hold_one(&s->newest_held, s->newest, drop, &ndrop);
    for (uint32_t i = 0; i < ndrop; i++)
        Py_DECREF(drop[i]);
}

/* Let go of everything level 0 holds. */
static void
release_instances(search *s)
{
    restart_instances(s);
    hold_instances(s);
}

static void add_referrer(search *s, PyObject *op);

/* How many items a list, tuple or dict has (the ones looked at in slices; not a subclass, whose
 * instances refer to more than their items); 0 for the rest. */
static Py_ssize_t
items_of(PyObject *op)
{
    if (PyList_CheckExact(op))
        return PyList_GET_SIZE(op);
    if (PyTuple_CheckExact(op))
        return PyTuple_GET_SIZE(op);
    if (PyDict_CheckExact(op))
        return PyDict_GET_SIZE(op);
    return 0;
}

/* A level: every object that refers to something of the previous level. */
static void
collect_referrers(PyObject *op, void *arg)
{
    search *s = arg;
    if (s->root != NULL || s->full) {
        s->walk.stop = 1;
        return;
    }
    if (map_has(&s->seen, op))
        return;
    traverseproc trav = Py_TYPE(op)->tp_traverse;
    if (trav == NULL)
        return;
    if (s->nbig < BIG_MAX && items_of(op) > BIG_ITEMS) {
        for (uint32_t i = 0; i < s->nbig; i++)
            if (s->big[i] == op)
                return; /* met again after the walk started over */
        Py_INCREF(op);
        s->big[s->nbig++] = op;
        return;
    }
    s->hit = NULL;
    trav(op, visit_check, s);
    if (s->hit != NULL)
        add_referrer(s, op);
}

/* op refers to s->hit, of the previous level: it is of the next one. */
static void
add_referrer(search *s, PyObject *op)
{
    if (s->nnext >= s->next_cap || map_put(&s->seen, op, s->hit) < 0) {
        s->full = 1;
        s->walk.stop = 1;
        return;
    }
    Py_INCREF(op);
    s->next[s->nnext++] = op;
    if (is_root(op)) {
        s->root = op;
        s->walk.stop = 1;
    }
}

/* A level's walk starting over: what it found is still found (held, and skipped when met
 * again), so nothing is forgotten. */
static void
restart_referrers(void *arg)
{
    (void)arg;
}

/* The hold of the GIL that began at s->hold ends: counted (LT_HOLD_WHY) and kept in s. */
static void
hold_done(search *s)
{
    uint64_t cpu = 0, wall = lt_hold_end(&s->hold, LT_HOLD_WHY, &cpu);
    if ((double)wall / 1e6 > s->pause_ms)
        s->pause_ms = (double)wall / 1e6;
    if ((double)cpu / 1e6 > s->pause_cpu_ms)
        s->pause_cpu_ms = (double)cpu / 1e6;
    s->holds++;
    s->held_ms += (double)wall / 1e6;
}

/* Let the host run: the GIL let go and taken again, the hold counted. sleep_ns: 0 yields the
 * processor once; otherwise sleep that long (a collection is running). */
static void
let_host_run(search *s, long sleep_ns)
{
    hold_done(s);
    Py_BEGIN_ALLOW_THREADS
    if (sleep_ns > 0) {
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
    } else {
        sched_yield();
    }
    Py_END_ALLOW_THREADS
    lt_hold_begin(&s->hold);
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Set by lt_py_why_show_keys; read by name_key. GIL held for both. */
static int show_keys;

void
lt_py_why_show_keys(int on)
{
    show_keys = on != 0;
}

/* A str key as a Python literal, quotes and backslashes escaped, control bytes as \xNN, cut
 * with "..." (between UTF-8 characters) at 100 bytes or when out is nearly full:
 * "['alice@example.com']". */
static void
quote_key(const char *key, char *out, size_t outlen)
{
    const unsigned char *c = (const unsigned char *)key, *end = c + strlen(key);
    size_t o = 0;
    if (outlen < 16) {
        out[0] = '\0';
        return;
    }
    if (end - c > 100)
        for (end = c + 100; (*end & 0xC0) == 0x80; end--)
            ; /* cut between characters, not inside one */
    out[o++] = '[';
    out[o++] = '\'';
    for (; c < end && (o + 10 < outlen || (*c & 0xC0) == 0x80); c++) {
        if (*c == '\'' || *c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*c;
        } else if (*c < 0x20 || *c == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *c);
        } else {
            out[o++] = (char)*c;
        }
    }
    if (*c != '\0') {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '\'';
    out[o++] = ']';
    out[o] = '\0';
}

/* The key k of a dict's item number `item` (in iteration order) as a piece of an expression.
 * In a namespace (see is_namespace) a key that is an identifier is an attribute name of the
 * code: ".name". Any other key is the program's data, shown only by its type and the item's
 * position, "[<str key, item 12>]", unless the process owner asked for the keys with
 * show_keys: then "['alice@example.com']", "[12345]" (keys of other types stay hidden). */
static void
name_key(PyObject *k, Py_ssize_t item, int parent_is_namespace, char *out, size_t outlen)
{
    if (PyUnicode_Check(k) && (parent_is_namespace || show_keys)) {
        int ident = PyUnicode_IsIdentifier(k);
        const char *key = PyUnicode_AsUTF8(k);
        if (ident < 0 || key == NULL)
            PyErr_Clear();
        if (key != NULL && parent_is_namespace && ident == 1) {
            snprintf(out, outlen, ".%s", key);
            return;
        }
        if (key != NULL && show_keys) {
            quote_key(key, out, outlen);
            return;
        }
    } else if (PyLong_CheckExact(k) && show_keys) {
        long long n = PyLong_AsLongLong(k);
        if (!(n == -1 && PyErr_Occurred())) {
            snprintf(out, outlen, "[%lld]", n);
            return;
        }
        PyErr_Clear();
    }
    snprintf(out, outlen, "[<%.60s key, item %zd>]", Py_TYPE(k)->tp_name, item);
}

/* Whether the dict d is a namespace of holder, the object that refers to it: a module's,
 * class's, function's or instance's __dict__, a function's globals, a frame's globals or builtins.
 * The identifiers among its keys are names in the code. GIL held; may materialise an
 * instance's __dict__ (as reading obj.__dict__ would). */
static int
is_namespace(PyObject *holder, PyObject *d)
{
    if (holder == NULL)
        return 0;
    if (PyModule_Check(holder))
        return PyModule_GetDict(holder) == d;
    if (PyType_Check(holder))
        return ((PyTypeObject *)holder)->tp_dict == d;
    if (PyFunction_Check(holder) && PyFunction_GET_GLOBALS(holder) == d)
        return 1;
    if (PyFrame_Check(holder)) {
        int ns = 0;
        static const char *const parts[] = {"f_globals", "f_builtins"};
        for (int i = 0; i < 2 && !ns; i++) {
            PyObject *x = PyObject_GetAttrString(holder, parts[i]);
            if (x == NULL)
                PyErr_Clear();
            ns = x == d;
            Py_XDECREF(x);
        }
        return ns;
    }
    if (Py_TYPE(holder)->tp_dictoffset == 0)
        return 0;
    PyObject *dict = PyObject_GenericGetDict(holder, NULL);
    if (dict == NULL)
        PyErr_Clear();
    int ns = dict == d;
    Py_XDECREF(dict);
    return ns;
}

/* Where in a big container the search found its item: naming the hop then takes no scan of
 * millions of items (a hold of the GIL as long as a level). Reset by each search; GIL held. */
#define BIG_HINTS 256
typedef struct big_hint {
    PyObject *container, *item;
    Py_ssize_t index; /* in a list or tuple; a dict's item number in iteration order */
    Py_ssize_t pos;   /* a dict's PyDict_Next position before that item */
} big_hint;
static big_hint hints[BIG_HINTS];
static uint32_t nhints;

/* The hint for the hop container -> item, or NULL. */
static const big_hint *
hint_for(PyObject *container, PyObject *item)
{
    for (uint32_t i = 0; i < nhints; i++)
        if (hints[i].container == container && hints[i].item == item)
            return &hints[i];
    return NULL;
}

/* Name the edge parent -> child as a piece of a Python expression. GIL held; may allocate (the
 * walks are over). */
static void
name_edge(PyObject *parent, PyObject *child, int parent_is_namespace, char *out, size_t outlen)
{
    out[0] = '\0';
    if (PyModule_Check(parent) || (PyType_Check(parent) && child == ((PyTypeObject *)parent)->tp_dict))
        return; /* module -> its dict, class -> its dict: the next hop names the attribute */
    const big_hint *hint = hint_for(parent, child);
    if (hint != NULL) {
        Py_ssize_t pos = hint->pos;
        PyObject *k, *v;
        if (PyDict_Check(parent) && PyDict_Next(parent, &pos, &k, &v) && v == child) {
            name_key(k, hint->index, parent_is_namespace, out, outlen);
            return;
        }
        if ((PyList_Check(parent) && hint->index < PyList_GET_SIZE(parent) &&
             PyList_GET_ITEM(parent, hint->index) == child) ||
            (PyTuple_Check(parent) && hint->index < PyTuple_GET_SIZE(parent) &&
             PyTuple_GET_ITEM(parent, hint->index) == child)) {
            snprintf(out, outlen, "[%zd]", hint->index);
            return;
        }
    }
    if (PyDict_Check(parent)) {
        Py_ssize_t pos = 0, item = 0;
        PyObject *k, *v;
        for (; PyDict_Next(parent, &pos, &k, &v); item++)
            if (v == child) {
                name_key(k, item, parent_is_namespace, out, outlen);
                return;
            }
        snprintf(out, outlen, "[<a key>]");
        return;
    }
    if (PyList_Check(parent) || PyTuple_Check(parent)) {
        Py_ssize_t n = PyList_Check(parent) ? PyList_GET_SIZE(parent) : PyTuple_GET_SIZE(parent);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *x = PyList_Check(parent) ? PyList_GET_ITEM(parent, i) : PyTuple_GET_ITEM(parent, i);
            if (x == child) {
                snprintf(out, outlen, "[%zd]", i);
                return;
            }
        }
        snprintf(out, outlen, "[?]");
        return;
    }
    if (PyMethod_Check(parent)) {
        snprintf(out, outlen, child == PyMethod_GET_SELF(parent) ? ".__self__" : ".__func__");
        return;
    }
    if (PyCell_Check(parent)) {
        snprintf(out, outlen, ".cell_contents");
        return;
    }
    if (PyFunction_Check(parent)) {
        PyObject *closure = PyFunction_GET_CLOSURE(parent);
        snprintf(out, outlen, child == closure ? ".__closure__"
                              : child == PyFunction_GET_GLOBALS(parent) ? ".__globals__"
                              : child == PyFunction_GET_DEFAULTS(parent) ? ".__defaults__"
                                                                         : ".<function part>");
        return;
    }
    if (PyAnySet_Check(parent)) {
        snprintf(out, outlen, " (an item of a %s)", Py_TYPE(parent)->tp_name);
        return;
    }
    /* An instance: a slot, its own __dict__, or an attribute in it. */
    PyTypeObject *tp = Py_TYPE(parent);
    for (PyTypeObject *t = tp; t != NULL; t = t->tp_base) {
        PyMemberDef *mem = t->tp_members;
        for (; mem != NULL && mem->name != NULL; mem++)
            if ((mem->type == T_OBJECT_EX || mem->type == T_OBJECT) &&
                *(PyObject **)((char *)parent + mem->offset) == child) {
                snprintf(out, outlen, ".%s", mem->name);
                return;
            }
    }
    PyObject *dict = PyObject_GenericGetDict(parent, NULL);
    if (dict == NULL) {
        PyErr_Clear();
    } else {
        if (dict == child) {
            Py_DECREF(dict);
            return; /* instance -> its __dict__: the dict hop names the attribute */
        }
        if (PyDict_Check(dict)) {
            name_edge(dict, child, 1, out, outlen);
            Py_DECREF(dict);
            if (out[0] && strcmp(out, "[<a key>]") != 0)
                return;
        } else {
            Py_DECREF(dict);
        }
    }
    snprintf(out, outlen, " -> (held by a %s)", tp->tp_name);
}

static void
describe_root(PyObject *root, char *out, size_t outlen)
{
    if (PyModule_Check(root)) {
        const char *name = PyModule_GetName(root);
        if (name == NULL)
            PyErr_Clear();
        snprintf(out, outlen, "%s", name ? name : "<module>");
    } else if (PyType_Check(root)) {
        char name[256];
        lt_py_type_name(root, name, sizeof name);
        snprintf(out, outlen, "%.150s", name);
    } else {
        snprintf(out, outlen, "<a frame>");
    }
}

/* Walk back from the root to the instance, naming each hop. */
static void
build_chain(search *s, lt_why *out)
{
    PyObject *chain[LT_WHY_MAX_LEVELS * 2 + 2];
    int n = 0;
    for (PyObject *o = s->root; o != NULL && n < (int)(sizeof chain / sizeof chain[0]);
         o = map_get(&s->seen, o))
        chain[n++] = o;
    int hops = 0;
    for (int i = 0; i < n && hops < LT_WHY_MAX_HOPS; i++) {
        lt_why_hop *h = &out->hops[hops];
        if (i == 0)
            describe_root(chain[0], h->text, sizeof h->text);
        else {
            PyObject *parent = chain[i - 1];
            int ns = PyDict_Check(parent) &&
                     is_namespace(i >= 2 ? chain[i - 2] : NULL, parent);
            name_edge(parent, chain[i], ns, h->text, sizeof h->text);
            if (h->text[0] == '\0')
                continue; /* a container's own namespace dict: folded into the next hop */
        }
        lt_py_type_name(Py_TYPE(chain[i]), h->type, sizeof h->type);
        hops++;
    }
    out->nhops = hops;
}

/* Drop the references held in s->seen and empty it: as long as it holds, not as big. */
static void
release_seen(search *s)
{
    for (uint32_t i = 0; i < s->seen.n; i++) {
        uint32_t slot = s->seen.order[i];
        Py_DECREF((PyObject *)s->seen.keys[slot]);
        s->seen.keys[slot] = NULL;
    }
    s->seen.n = 0;
}

/* The budget is the time the search holds the GIL in all (the host's time it takes), and at
 * most WHY_WALL_FACTOR times that in wall time (the host's threads run between the slices). */
#define WHY_WALL_FACTOR 4.0

static int
over_budget(const search *s, double start_ms, double budget_ms)
{
    if (s->stop != NULL && __atomic_load_n(s->stop, __ATOMIC_ACQUIRE) != 0)
        return 1; /* the agent is stopping: its thread must not keep leaktop.stop() waiting */
    uint64_t now = lt_mono_ns();
    double holding = (double)(now - s->hold.wall_ns) / 1e6; /* the hold under way */
    return s->held_ms + holding > budget_ms ||
           (double)now / 1e6 - start_ms > WHY_WALL_FACTOR * budget_ms;
}

/* One whole walk over the GC-tracked objects, visit on each, in slices of the pause bound with
 * the GIL let go between them: everything the search keeps is held by strong references, and
 * the walk goes on from its cursor or starts over when a collection moved the lists (py_census.h).
 * Returns 1 when the walk is done (the visitor may have ended it), 0 when the budget ran out
 * (out->note says so). */
static int
walk_all(search *s, void (*visit)(PyObject *, void *), void (*restart_fn)(void *),
         double start_ms, double budget_ms, lt_why *out)
{
    lt_py_walk_begin_visit(&s->walk, visit, restart_fn, s);
    int done = 0;
    for (;;) {
        /* A type's address may be another type's after the GIL was let go. */
        memset(s->want->cache, 0, sizeof s->want->cache);
        int rc = lt_py_walk_slice(&s->walk, NULL, s->slice_ns, s->grace_ns);
        if (visit == collect_instances)
            hold_instances(s);
        if (rc == LT_WALK_DONE) {
            done = 1;
            break;
        }
        if (over_budget(s, start_ms, budget_ms))
            break;
        let_host_run(s, rc == LT_WALK_BUSY ? 1000000 : 0);
    }
    s->slices += s->walk.slices;
    s->restarts += s->walk.restarts;
    if (!s->walk.exact)
        out->skipped = 1;
    lt_py_walk_abandon(&s->walk, NULL);
    if (!done)
        snprintf(out->note, sizeof out->note, "no root within the %.0f ms budget", budget_ms);
    return done;
}

/* Let go of the level's big containers. */
static void
drop_big(search *s)
{
    for (uint32_t i = 0; i < s->nbig; i++)
        Py_DECREF(s->big[i]);
    s->nbig = 0;
}

/* After a level's walk, its big containers: each item (a dict's keys and values) looked up in
 * the frontier, the GIL let go every slice (each container is held; one that changes meanwhile
 * is read from where it is, as its size is read again at every item). Returns 1 done, 0 out
 * of budget (out->note says so). */
static int
look_in_big(search *s, double start_ms, double budget_ms, lt_why *out)
{
    for (uint32_t b = 0; b < s->nbig && s->root == NULL && !s->full; b++) {
        PyObject *op = s->big[b];
        Py_ssize_t i = 0, pos = 0;
        for (;;) {
            PyObject *item = NULL, *key = NULL;
            Py_ssize_t at = pos; /* a dict's position before this item */
            int more;
            if (PyDict_Check(op)) {
                more = PyDict_Next(op, &pos, &key, &item);
            } else if (PyList_Check(op)) {
                more = i < PyList_GET_SIZE(op);
                item = more ? PyList_GET_ITEM(op, i) : NULL;
            } else {
                more = i < PyTuple_GET_SIZE(op);
                item = more ? PyTuple_GET_ITEM(op, i) : NULL;
            }
            if (!more)
                break;
            i++;
            s->hit = key != NULL && map_has(&s->frontier, key) ? key
                     : item != NULL && map_has(&s->frontier, item) ? item
                                                                    : NULL;
            if (s->hit != NULL) {
                add_referrer(s, op);
                if (nhints < BIG_HINTS)
                    hints[nhints++] = (big_hint){op, s->hit, i - 1, at};
                break;
            }
            if ((i & 1023) == 0 && lt_mono_ns() - s->hold.wall_ns >= s->slice_ns) {
                if (over_budget(s, start_ms, budget_ms)) {
                    snprintf(out->note, sizeof out->note, "no root within the %.0f ms budget",
                             budget_ms);
                    return 0;
                }
                let_host_run(s, 0); /* op is held: it stays valid */
            }
        }
    }
    return 1;
}

/* One search upwards from a single instance. Returns 1 found, 0 not (out->note says why), -1
 * out of memory. */
static int
search_from(search *s, PyObject *start, double start_ms, double budget_ms, lt_why *out)
{
    s->root = NULL;
    s->full = 0;
    s->nnext = 0;
    nhints = 0;
    release_seen(s);
    Py_INCREF(start);
    map_put(&s->seen, start, NULL);
    s->next[s->nnext++] = start;
    for (int level = 1; level <= LT_WHY_MAX_LEVELS; level++) {
        uint32_t nlevel = s->nnext;
        memcpy(s->level, s->next, nlevel * sizeof *s->next);
        s->nnext = 0;
        uint32_t cap = 1024;
        while (cap < nlevel * 4)
            cap *= 2;
        /* Let the host run between levels (what we hold cannot die meanwhile), and make the
         * frontier's map then: zeroing megabytes is no work for a hold of the GIL. */
        hold_done(s);
        int mapped;
        Py_BEGIN_ALLOW_THREADS
        lt_fork_gate_enter();
        map_free(&s->frontier);
        mapped = map_init(&s->frontier, cap);
        lt_fork_gate_leave();
        Py_END_ALLOW_THREADS
        lt_hold_begin(&s->hold);
        if (mapped < 0)
            return -1;
        for (uint32_t i = 0; i < nlevel; i++)
            map_put(&s->frontier, s->level[i], s->level[i]);
        if (over_budget(s, start_ms, budget_ms)) {
            snprintf(out->note, sizeof out->note, "no root within the %.0f ms budget", budget_ms);
            return 0;
        }
        int walked = walk_all(s, collect_referrers, restart_referrers, start_ms, budget_ms, out);
        if (walked && s->root == NULL && !s->full)
            walked = look_in_big(s, start_ms, budget_ms, out);
        drop_big(s);
        if (!walked)
            return 0;
        out->levels = level;
        if (s->root != NULL)
            return 1;
        if (s->full) {
            snprintf(out->note, sizeof out->note, "too many referrers to follow (over %u)",
                     s->next_cap);
            return 0;
        }
        if (s->nnext == 0 && out->skipped) {
            snprintf(out->note, sizeof out->note,
                     "collections kept moving the heap during the search; try again");
            return 0;
        }
        if (s->nnext == 0) {
            /* Nothing new refers to what we hold: a closed group of objects. */
            int enabled = lt_py_gc_enabled();
            snprintf(out->note, sizeof out->note, "%s",
                     level > 1 || enabled == 0
                         ? (enabled == 0
                                ? "no root: only reference cycles hold it, and gc is disabled, "
                                  "so the collector never frees them"
                                : "no root: only reference cycles hold it (garbage the next "
                                  "collection frees), or C code does")
                         : "no GC-tracked referrer: held by a running function's locals or C "
                           "code");
            return 0;
        }
    }
    snprintf(out->note, sizeof out->note, "no root within %d levels", LT_WHY_MAX_LEVELS);
    return 0;
}

/* The answer of a search from one of the youngest instances, and what it is compared by. */
typedef struct young_answer {
    lt_why why;
    int from_frame;
    int in_flight; /* no GC-tracked referrer: a temporary the program is working on */
    char shape[512];
} young_answer;

/* An answer as it is compared with the others: the chain with every number left out ("[12]" and
 * "[13]" are the same holder), or why there is none. */
static void
answer_shape(const lt_why *w, char *out, size_t outlen)
{
    char text[512];
    if (w->found)
        lt_why_format(w, text, sizeof text);
    else
        snprintf(text, sizeof text, "!%s", w->note);
    size_t o = 0;
    for (const char *c = text; *c && o + 1 < outlen; c++)
        if (*c < '0' || *c > '9' || o == 0 || out[o - 1] != '#')
            out[o++] = *c >= '0' && *c <= '9' ? '#' : *c;
    out[o] = '\0';
}

/* Whether the program let go of op while the search ran (the host runs between its slices):
 * only the search's own references are left, in starts and (in_young: one) in young. Such an
 * instance would be freed, not leaked: no start for a search. */
static int
dropped(PyObject *op, int in_young, PyObject *const *starts, uint32_t nstarts)
{
    Py_ssize_t ours = in_young;
    for (uint32_t i = 0; i < nstarts; i++)
        ours += starts[i] == op;
    ours += starts[LT_WHY_START] == op;
    return Py_REFCNT(op) <= ours;
}

int
lt_py_why_alive(const char *type_name, double budget_ms, uint64_t max_pause_ns,
                const int *stop, lt_why *out)
{
    memset(out, 0, sizeof *out);
    search s;
    memset(&s, 0, sizeof s);
    s.stop = stop;
    lt_hold_begin(&s.hold);
    /* Slices as the census's: 40% of the bound, the young lists 30% more (py_census.h). */
    s.slice_ns = max_pause_ns * 2 / 5;
    s.grace_ns = max_pause_ns * 3 / 10;
    s.next_cap = LT_WHY_FRONTIER_MAX;
    PyObject *starts[LT_WHY_START + 1]; /* the reservoir, then the newest sampled */
    young_answer *young = NULL;          /* the answer from each of the youngest */
    uint32_t nstarts = 0;
    int rc = 0, mapped;
    double start = now_ms();
    /* The search's memory (megabytes, zeroed) is made with the GIL let go. */
    hold_done(&s);
    Py_BEGIN_ALLOW_THREADS
    lt_fork_gate_enter();
    s.want = lt_calloc(1, sizeof *s.want); /* ~4 KiB: not on the agent thread's stack */
    s.next = lt_malloc(s.next_cap * sizeof *s.next);
    s.level = lt_malloc(s.next_cap * sizeof *s.level);
    s.next_held = lt_calloc(LT_WHY_START, sizeof *s.next_held);
    mapped = map_init(&s.seen, 1u << 18);
    lt_fork_gate_leave();
    Py_END_ALLOW_THREADS
    lt_hold_begin(&s.hold);
    if (s.want != NULL)
        s.want->want = type_name;
    if (s.want == NULL || s.next == NULL || s.level == NULL || s.next_held == NULL ||
        mapped < 0) {
        rc = -1;
        goto done;
    }
    /* Level 0: the instances, in slices; what they picked is held between slices. */
    int walked = walk_all(&s, collect_instances, restart_instances, start, budget_ms, out);
    s.nyoung = s.nring < LT_WHY_YOUNG_MAX ? (uint32_t)s.nring : LT_WHY_YOUNG_MAX;
    for (uint32_t k = 0; k < s.nyoung; k++)
        s.young[k] = s.ring_held[(s.nring - 1 - k) % LT_WHY_YOUNG_MAX];
    s.newest = s.newest_held;
    if (!walked || s.nnext == 0) {
        out->instances = s.instances;
        if (walked)
            snprintf(out->note, sizeof out->note, "no live instance of %s", type_name);
        release_instances(&s);
        goto done;
    }
    memcpy(s.next, s.next_held, s.nnext * sizeof *s.next);
    out->instances = s.instances;
    /* Where to start. A growing type is asked about because it keeps getting new instances
     * that stay, so its young instances are mostly leaked ones, whatever the old ones number
     * (40,000 lists a library made at import, and a leaking `list` amid them). But the very
     * youngest may be the few the program is working on right now (`a, b = Node(), Node()` in
     * a loop: held by the module's globals while every older pair leaks). So the search runs
     * from each of the LT_WHY_YOUNG youngest instances and the answer is the one most of them
     * give (chains compared with their indices left out, a chain from a frame last among
     * equals). A temporary in flight (held by a running function's locals, or by nothing the
     * GC tracks) is no answer to count: the search goes on past it to older ones, up to
     * LT_WHY_YOUNG_MAX, and its answer comes last of all. Only when none gives one, the
     * instance the allocation sampler picked most recently, then the reservoir spread over
     * the heap (its middle, then a quarter either side). */
    nstarts = s.nnext;
    memcpy(starts, s.next, nstarts * sizeof *starts);
    starts[LT_WHY_START] = s.newest;
    for (uint32_t i = 0; i < nstarts; i++)
        Py_INCREF(starts[i]);
    Py_XINCREF(starts[LT_WHY_START]);
    for (uint32_t i = 0; i < s.nyoung; i++)
        Py_INCREF(s.young[i]);
    release_instances(&s); /* what level 0 held: held above as long as needed */
    young = lt_calloc(LT_WHY_YOUNG_MAX + 1, sizeof *young); /* and one for the other starts */
    if (young == NULL) {
        rc = -1;
        goto release_young;
    }
    int nanswers = 0, settled = 0; /* answers, and those not in flight */
    for (uint32_t k = 0; k < s.nyoung && settled < LT_WHY_YOUNG && rc == 0; k++) {
        if (dropped(s.young[k], 1, starts, nstarts))
            continue;
        lt_why *w = &young[nanswers].why;
        *w = *out;
        w->note[0] = '\0';
        int r = search_from(&s, s.young[k], start, budget_ms, w);
        if (r < 0)
            rc = -1;
        if (r == 1) {
            w->found = 1;
            build_chain(&s, w);
            young[nanswers].from_frame = PyFrame_Check(s.root);
        }
        if (r >= 0 && over_budget(&s, start, budget_ms) && !w->found)
            break; /* out of time: this one's answer is only that */
        if (r >= 0) {
            /* In flight: held by no GC-tracked object (a running function's locals since
             * 3.11, or C code) or by such a group only (a temporary's items, or garbage the
             * collector frees), or by a running frame directly (its locals before 3.11). */
            young[nanswers].in_flight =
                w->found ? young[nanswers].from_frame && w->nhops <= 2
                         : strncmp(w->note, "no GC-tracked", 13) == 0 ||
                               strstr(w->note, "garbage the next collection frees") != NULL;
            settled += !young[nanswers].in_flight;
            answer_shape(w, young[nanswers].shape, sizeof young[nanswers].shape);
            nanswers++;
        }
    }
    int best = -1, best_votes = 0;
    for (int a = 0; a < nanswers; a++) {
        if (!young[a].why.found && young[a].why.note[0] == '\0')
            continue;
        int votes = 0;
        for (int b = 0; b < nanswers; b++)
            votes += strcmp(young[a].shape, young[b].shape) == 0;
        /* A temporary in flight (held by a running function's locals or C code) loses to any
         * other answer, however many young ones are in flight: a request being served makes
         * more temporaries than it leaks. */
        if (best >= 0 && young[a].in_flight != young[best].in_flight) {
            if (young[a].in_flight)
                continue;
            best_votes = 0;
        }
        if (best < 0 || votes > best_votes ||
            (votes == best_votes && young[best].from_frame && !young[a].from_frame)) {
            best = a;
            best_votes = votes;
        }
    }
    if (best >= 0)
        *out = young[best].why;
    PyObject *order[4] = {starts[LT_WHY_START], starts[nstarts / 2], starts[nstarts / 4],
                          starts[nstarts * 3 / 4]};
    /* (When the youngest were all in flight, a chain found from the others replaces that.) */
    int in_flight = best >= 0 && young[best].in_flight;
    lt_why *other = &young[LT_WHY_YOUNG_MAX].why;
    for (int k = 0; k < 4 && (best < 0 || in_flight) && rc == 0 && !out->found; k++) {
        int tried = order[k] == NULL;
        for (int j = 0; j < k && !tried; j++)
            tried = order[j] == order[k];
        for (uint32_t j = 0; j < s.nyoung && !tried; j++)
            tried = s.young[j] == order[k];
        if (tried || dropped(order[k], 0, starts, nstarts))
            continue;
        *other = *out;
        int r = search_from(&s, order[k], start, budget_ms, other);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 1) {
            other->found = 1;
            other->note[0] = '\0';
            build_chain(&s, other);
        }
        if (r == 1 || !in_flight)
            *out = *other;
        else if (other->max_pause_ms > out->max_pause_ms)
            out->max_pause_ms = other->max_pause_ms;
    }
release_young:
    for (uint32_t i = 0; i < s.nyoung; i++)
        Py_DECREF(s.young[i]);
done:
    lt_free(young);
    out->total_ms = now_ms() - start;
    if (s.seen.keys != NULL)
        release_seen(&s);
    for (uint32_t i = 0; i < nstarts; i++)
        Py_DECREF(starts[i]);
    if (nstarts > 0)
        Py_XDECREF(starts[LT_WHY_START]);
    map_free(&s.seen);
    map_free(&s.frontier);
    lt_free(s.next);
    lt_free(s.level);
    lt_free(s.want);
    lt_free(s.next_held);
    PyErr_Clear();
    hold_done(&s); /* the last hold ends when the caller lets go of the GIL: nearly now */
    out->max_pause_ms = s.pause_ms;
    out->max_pause_cpu_ms = s.pause_cpu_ms;
    out->holds = s.holds;
    out->slices = s.slices;
    out->restarts = s.restarts;
    return rc;
}

void
lt_why_format(const lt_why *w, char *buf, size_t buflen)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < w->nhops && len < buflen; i++)
        len += (size_t)snprintf(buf + len, buflen - len, "%s", w->hops[i].text);
    if (w->nhops > 0 && len < buflen) {
        len += (size_t)snprintf(buf + len, buflen - len, "  (");
        for (int i = 0; i < w->nhops && len < buflen; i++)
            len += (size_t)snprintf(buf + len, buflen - len, "%s%s", i ? " -> " : "",
                                    w->hops[i].type);
        if (len < buflen)
            snprintf(buf + len, buflen - len, ")");
    }
}
