/* Parsing the command line. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void
lt_cli_usage(FILE *f)
{
    fputs("usage: leaktop [PID] | run [--keep] -- CMD... | attach PID | detach PID | connect SOCKET "
          "| check [--duration S] [--json] (-- CMD... | --pid PID | --socket SOCKET) | record -o "
          "FILE [--duration S] (-- CMD... | --pid PID | --socket SOCKET) | replay FILE | metrics "
          "[--listen ADDR] [--auth FILE] [--pid PID] | --help | --version\n",
          f);
}

void
lt_cli_help(FILE *f)
{
    fputs("leaktop " LEAKTOP_VERSION " - a live memory monitor for Python programs\n"
          "\n"
          "Watching live (terminal UI):\n"
          "  leaktop                      pick one of your Python processes\n"
          "  leaktop PID                  watch PID (offers to attach when it has no agent)\n"
          "  leaktop run [--keep] [--interval S] [--budget PCT] -- CMD [ARGS...]\n"
          "                               start CMD with the agent loaded and watch it\n"
          "  leaktop attach PID           load the agent into a running process, then watch\n"
          "  leaktop detach PID           stop the agent in PID; the program goes on\n"
          "  leaktop connect SOCKET       watch the agent at a socket path: one forwarded\n"
          "                               from another host with ssh -L (see Examples)\n"
          "\n"
          "Headless:\n"
          "  leaktop check [--duration S] [--json] [--top N] [--interval S] [--budget PCT]\n"
          "                [--keep]\n"
          "                (-- CMD [ARGS...] | --pid PID | --socket SOCKET)\n"
          "                               watch for S seconds (default 30), print a report;\n"
          "                               exit 0: no leak suspects, 1: suspects, 2: error\n"
          "  leaktop record -o FILE [--duration S] [--interval S] [--budget PCT] [--keep]\n"
          "                (-- CMD [ARGS...] | --pid PID | --socket SOCKET)\n"
          "                               write the stream to FILE until CMD exits or S pass\n"
          "  leaktop replay FILE          the terminal UI on a recording\n"
          "\n"
          "Serving metrics (Prometheus):\n"
          "  leaktop metrics [--listen ADDR] [--auth FILE] [--pid PID] [--top N] [--interval S]\n"
          "                               serve the figures of every agent of yours (or of\n"
          "                               PID) at http://ADDR/metrics (default\n"
          "                               127.0.0.1:9464; ADDR may be unix:PATH); looks for\n"
          "                               new agents every S seconds (default 2); top N\n"
          "                               types (default 20); --auth: basic authentication\n"
          "                               with the user:password a 0600 FILE holds\n"
          "\n"
          "Examples:\n"
          "  leaktop run -- python3 app.py\n"
          "  leaktop check --duration 60 --json -- python3 -m myservice > report.json\n"
          "  leaktop record -o incident.lktp --pid 4242\n"
          "  ssh -N -L /tmp/app.sock:/run/user/1000/leaktop/4242.sock prod-host &\n"
          "  leaktop connect /tmp/app.sock  # pid 4242 on prod-host, from your laptop\n"
          "\n"
          "--budget PCT: the census of a started program uses at most PCT% of one core on\n"
          "average (default 1) and never holds the program for more than 10 ms at a time; on\n"
          "a big heap its counts are then older than the sample (shown: \"counts 12 s old\").\n"
          "A program started by leaktop is ended when leaktop is done (SIGTERM, then SIGKILL),\n"
          "unless --keep. With --pid, leaktop never ends the process: it attaches when PID\n"
          "has no agent (PEP 768 on 3.14+, gdb before), and stops that agent again at the\n"
          "end unless --keep.\n"
          "With CMD or --pid, every process below the program that has an agent\n"
          "(pre-fork workers, pool processes) is followed too: w in the UI lists them,\n"
          "check names the processes a suspect grows in, record keeps all their streams.\n"
          "Supported: " LEAKTOP_PYTHONS ", Linux.\n"
          "Environment: XDG_RUNTIME_DIR (where agent sockets live), NO_COLOR, LEAKTOP_GDB\n"
          "(the gdb to attach with), LEAKTOP_ATTACH_TIMEOUT (seconds, default 20),\n"
          "LEAKTOP_ATTACH_VIA (gdb or pep768: attach by that route only).\n",
          f);
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Say what is wrong with the command line, then how it is used. Returns 2, the exit status. */
static int
bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("leaktop: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    lt_cli_usage(stderr);
    return 2;
}

static int
parse_pid(const char *s, pid_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v <= 0 || v > 4194304)
        return -1;
    *out = (pid_t)v;
    return 0;
}

static int
parse_seconds(const char *s, double *out, double min)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v >= min) || v > 1e7)
        return -1;
    *out = v;
    return 0;
}

enum { OPT_PID = 256, OPT_KEEP, OPT_JSON, OPT_DURATION, OPT_INTERVAL, OPT_TOP, OPT_QUIET,
       OPT_REFRESHES, OPT_LISTEN, OPT_SOCKET, OPT_BUDGET, OPT_AUTH };

static int
parse_count(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end != '\0' || v == 0 || v > 1000000000ul || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Options of the headless and run modes. Stops at the first non-option (CMD). */
static int
parse_mode_options(lt_cli *cli, int argc, char **argv, const char *mode)
{
    static const struct option longopts[] = {
        {"pid", required_argument, NULL, OPT_PID},
        {"keep", no_argument, NULL, OPT_KEEP},
        {"json", no_argument, NULL, OPT_JSON},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"budget", required_argument, NULL, OPT_BUDGET},
        {"top", required_argument, NULL, OPT_TOP},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"refreshes", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"auth", required_argument, NULL, OPT_AUTH},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 0; /* glibc: 0 also forgets the previous parse's state */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+o:hn:", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_PID:
            if (parse_pid(optarg, &cli->pid) < 0)
                return bad("--pid needs a process id, not '%s'", optarg);
            break;
        case OPT_KEEP: cli->keep = 1; break;
        case OPT_JSON: cli->json = 1; break;
        case OPT_QUIET: cli->quiet = 1; break;
        case OPT_DURATION:
            if (parse_seconds(optarg, &cli->duration, 0.0) < 0)
                return bad("--duration needs a number of seconds, not '%s'", optarg);
            break;
        case OPT_INTERVAL:
            if (parse_seconds(optarg, &cli->interval, 0.01) < 0 || cli->interval > 3600)
                return bad("--interval needs seconds between 0.01 and 3600, not '%s'", optarg);
            break;
        case OPT_BUDGET:
            if (parse_seconds(optarg, &cli->budget, 0.01) < 0 || cli->budget > 100)
                return bad("--budget needs a percent of one core between 0.01 and 100, not '%s'",
                           optarg);
            break;
        case OPT_TOP: {
            double v;
            if (parse_seconds(optarg, &v, 1.0) < 0)
                return bad("--top needs a positive count, not '%s'", optarg);
            cli->top = (unsigned)v;
            break;
        }
        case 'o': cli->output = optarg; break;
        case OPT_LISTEN: cli->listen = optarg; break;
        case OPT_AUTH:
            if (optarg[0] == '\0')
                return bad("--auth needs a file holding user:password%s", "");
            cli->auth_file = optarg;
            break;
        case OPT_SOCKET:
            if (optarg[0] == '\0')
                return bad("--socket needs the path of an agent socket%s", "");
            cli->socket = optarg;
            break;
        case 'n':
            if (parse_count(optarg, &cli->refreshes) < 0)
                return bad("-n needs a positive number of screen refreshes, not '%s'", optarg);
            break;
        case 'h': cli->mode = LT_MODE_HELP; return 0;
        default:
            if (optopt != 0 && optopt < 256) {
                char o[2] = {(char)optopt, 0};
                return bad("unknown or incomplete option -%s", o);
            }
            return bad("unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    /* getopt stops at "--" (and consumes it) or at CMD's first word. */
    if (optind < argc)
        cli->cmd = argv + optind;
    (void)mode;
    return 0;
}

int
lt_cli_parse(lt_cli *cli, int argc, char **argv)
{
    memset(cli, 0, sizeof *cli);
    cli->duration = -1;
    cli->top = 50;
    if (argc < 2) {
        cli->mode = LT_MODE_PICKER;
        return 0;
    }
    /* Options of the TUI forms come first: leaktop -n 5 PID, leaktop -n 5 replay FILE. */
    int first = 1;
    while (first < argc && (strcmp(argv[first], "-n") == 0 || strcmp(argv[first], "--refreshes") == 0)) {
        if (first + 1 >= argc || parse_count(argv[first + 1], &cli->refreshes) < 0)
            return bad("-n needs a positive number of screen refreshes%s", "");
        first += 2;
    }
    if (first > 1) {
        argv[first - 1] = argv[0];
        argv += first - 1;
        argc -= first - 1;
        if (argc < 2) {
            cli->mode = LT_MODE_PICKER;
            return 0;
        }
    }
    const char *m = argv[1];
    if (strcmp(m, "--help") == 0 || strcmp(m, "-h") == 0 || strcmp(m, "help") == 0) {
        cli->mode = LT_MODE_HELP;
        return 0;
    }
    if (strcmp(m, "--version") == 0 || strcmp(m, "-V") == 0) {
        cli->mode = LT_MODE_VERSION;
        return 0;
    }
    int rest = argc - 1;
    char **rargv = argv + 1;
    if (parse_pid(m, &cli->pid) == 0) {
        cli->mode = LT_MODE_PID;
        return argc == 2 ? 0 : bad("unexpected argument '%s' after the PID", argv[2]);
    }
    if (strcmp(m, "attach") == 0 || strcmp(m, "detach") == 0) {
        cli->mode = m[0] == 'a' ? LT_MODE_ATTACH : LT_MODE_DETACH;
        if (argc != 3 || parse_pid(argv[2], &cli->pid) < 0)
            return bad("%s needs one process id", m);
        return 0;
    }
    if (strcmp(m, "connect") == 0) {
        cli->mode = LT_MODE_CONNECT;
        if (argc != 3 || argv[2][0] == '\0')
            return bad("connect needs the path of one agent socket (a forwarded one: ssh -L)%s",
                       "");
        cli->socket = argv[2];
        return 0;
    }
    if (strcmp(m, "replay") == 0) {
        cli->mode = LT_MODE_REPLAY;
        if (argc != 3)
            return bad("replay needs one recording file%s", "");
        cli->file = argv[2];
        return 0;
    }
    if (strcmp(m, "run") == 0)
        cli->mode = LT_MODE_RUN;
    else if (strcmp(m, "check") == 0)
        cli->mode = LT_MODE_CHECK;
    else if (strcmp(m, "record") == 0)
        cli->mode = LT_MODE_RECORD;
    else if (strcmp(m, "metrics") == 0)
        cli->mode = LT_MODE_METRICS;
    else
        return bad("unknown command '%s'", m);
    if (cli->mode == LT_MODE_METRICS)
        cli->top = 0; /* the exporter's own default */

    int rc = parse_mode_options(cli, rest, rargv, m);
    if (rc != 0 || cli->mode == LT_MODE_HELP)
        return rc;
    if (cli->mode == LT_MODE_METRICS) {
        if (cli->cmd != NULL)
            return bad("metrics reads running agents; unexpected argument '%s'", cli->cmd[0]);
        if (cli->json || cli->keep || cli->quiet || cli->output || cli->duration >= 0 ||
            cli->socket)
            return bad("metrics takes --listen, --auth, --pid, --top and --interval%s", "");
        return 0;
    }
    if (cli->listen != NULL)
        return bad("--listen is an option of metrics%s", "");
    if (cli->auth_file != NULL)
        return bad("--auth is an option of metrics%s", "");
    if (cli->mode == LT_MODE_CHECK && cli->duration < 0)
        cli->duration = 30;
    if (cli->mode == LT_MODE_RUN) {
        if (cli->cmd == NULL)
            return bad("run needs a program: leaktop run -- CMD [ARGS...]%s", "");
        if (cli->pid != 0 || cli->socket)
            return bad("run starts a program; to watch a running one use: leaktop %s", "PID");
        return 0;
    }
    int targets = (cli->cmd != NULL) + (cli->pid != 0) + (cli->socket != NULL);
    if (targets == 0)
        return bad("%s needs a program (-- CMD ...), --pid PID or --socket PATH", m);
    if (targets > 1)
        return bad("%s takes one of a program (-- CMD ...), --pid PID or --socket PATH", m);
    if (cli->socket && cli->keep)
        return bad("--keep is about a program leaktop starts or attaches to, not --socket%s", "");
    if (cli->mode == LT_MODE_RECORD && cli->output == NULL)
        return bad("record needs -o FILE%s", "");
    if (cli->mode == LT_MODE_CHECK && cli->output != NULL)
        return bad("check writes its report to stdout; -o is for record%s", "");
    return 0;
}
