/* SPDX-License-Identifier: BSD-3-Clause */
/* fake-logind.c: a stand-in for systemd-logind on a private bus, so tests
 * can watch what the daemon asks of logind and make logind misbehave in
 * ways the real one will not on demand (unknown sessions, silence).
 *
 *   fake-logind --address ADDR --log FILE [--session ID:PID[,PID...]]...
 *               [--idle ID:SINCE]... [--type ID:TYPE]... [--stall]
 *   fake-logind --address ADDR --log FILE --notifications
 *
 * It owns org.freedesktop.login1 on the bus at ADDR and serves, on
 * /org/freedesktop/login1, org.freedesktop.login1.Manager's
 * TerminateSession(s), LockSession(s), GetSession(s) -> o and
 * GetSessionByPID(u) -> o, and on each session object the Leader (u),
 * IdleHint (b) and IdleSinceHint (t) properties of
 * org.freedesktop.login1.Session. "--idle 7:1700000000" makes session 7
 * idle since that wall-clock second (IdleHint true, IdleSinceHint in
 * microseconds, as logind gives it); other sessions are not idle.
 * "--type 7:x11" gives session 7 that Type (property Type, s; default
 * "tty").
 *
 * With --notifications it stands in for a desktop's notification server
 * instead: it owns org.freedesktop.Notifications on the (session) bus at
 * ADDR and logs each Notify call as "Notify APP|SUMMARY|BODY", answering
 * with an id. Sessions come from the
 * command line only: in "--session 7:1234,1240" 7 is the id, 1234 the
 * leader and 1240 another process inside it (GetSessionByPID finds the
 * session for either). Unknown ids get org.freedesktop.login1.NoSuchSession,
 * unknown pids org.freedesktop.login1.NoSessionForPID, as from logind.
 * TerminateSession removes the session. Every Manager call and every read
 * of Leader is appended to FILE as one line ("TerminateSession 7",
 * "LockSession 7", "GetSession 7", "GetSessionByPID 1234", "Leader 7",
 * "IdleHint 7")
 * before it is answered. --stall logs Manager calls but never answers them.
 * Prints "ready" on stdout once it owns the name; exits on SIGTERM or
 * SIGINT, or when the bus goes away.
 *
 * How tests use it: write a bus configuration into a temporary directory,
 *
 *   <busconfig>
 *     <listen>unix:path=DIR/bus</listen>
 *     <auth>EXTERNAL</auth>
 *     <policy context="default">
 *       <allow send_destination="*" eavesdrop="true"/>
 *       <allow eavesdrop="true"/>
 *       <allow own="*"/>
 *     </policy>
 *   </busconfig>
 *
 * start "dbus-daemon --config-file=DIR/bus.conf --nofork --print-address=FD"
 * (Debian package dbus) and wait for the address on FD, start this program
 * with that address and wait for "ready", then point the code under test at
 * the bus with DBUS_SYSTEM_BUS_ADDRESS=ADDR. Stop both with SIGTERM.
 *
 * Never touches the real system bus, and serves nothing but the above.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define LOGIND_NAME "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define SESSION_PREFIX "/org/freedesktop/login1/session"
#define ERROR_NO_SUCH_SESSION "org.freedesktop.login1.NoSuchSession"
#define ERROR_NO_SESSION_FOR_PID "org.freedesktop.login1.NoSessionForPID"

#define SESSIONS_MAX 32
#define SESSION_ID_MAX 64
#define SESSION_PIDS_MAX 8

struct fake_session {
        char id[SESSION_ID_MAX + 1];
        uint32_t pids[SESSION_PIDS_MAX]; /* pids[0] is the leader */
        size_t n_pids;
        uint64_t idle_since; /* wall-clock seconds; 0: not idle */
        char type[16];       /* logind's Type; "" means "tty" */
        bool present;
};

static struct fake_session sessions[SESSIONS_MAX];
static size_t n_sessions;
static int log_fd = -1;
static bool stall;
static bool notifications;

__attribute__((format(printf, 1, 2)))
static void log_call(const char *fmt, ...)
{
        char line[256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof line - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof line - 2)
                n = (int) sizeof line - 2;
        line[n++] = '\n';
        /* one write() per line: a reader never sees half of one */
        if (write(log_fd, line, (size_t) n) < 0)
                fprintf(stderr, "fake-logind: cannot write the log: %s\n", strerror(errno));
}

static struct fake_session *session_by_id(const char *id)
{
        for (size_t i = 0; i < n_sessions; i++)
                if (sessions[i].present && strcmp(sessions[i].id, id) == 0)
                        return &sessions[i];
        return NULL;
}

static struct fake_session *session_by_pid(uint32_t pid)
{
        for (size_t i = 0; i < n_sessions; i++) {
                if (!sessions[i].present)
                        continue;
                for (size_t j = 0; j < sessions[i].n_pids; j++)
                        if (sessions[i].pids[j] == pid)
                                return &sessions[i];
        }
        return NULL;
}

static int reply_session_path(sd_bus_message *m, const struct fake_session *s)
{
        char *path = NULL;
        int r;

        r = sd_bus_path_encode(SESSION_PREFIX, s->id, &path);
        if (r < 0)
                return r;
        r = sd_bus_reply_method_return(m, "o", path);
        free(path);
        return r;
}

/* Reads the session id argument of a Manager method and logs the call;
 * then NULL and *ret_r set when the call is answered (or stalled) already. */
static struct fake_session *session_argument(sd_bus_message *m, const char *member,
                                             sd_bus_error *error, int *ret_r)
{
        struct fake_session *s;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0) {
                *ret_r = r;
                return NULL;
        }
        log_call("%s %s", member, id);
        if (stall) {
                *ret_r = 1;
                return NULL;
        }
        s = session_by_id(id);
        if (!s)
                *ret_r = sd_bus_error_setf(error, ERROR_NO_SUCH_SESSION,
                                           "No session '%s' known", id);
        return s;
}

static int method_terminate_session(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct fake_session *s;
        int r = 0;

        (void) userdata;
        s = session_argument(m, "TerminateSession", error, &r);
        if (!s)
                return r;
        s->present = false;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_lock_session(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct fake_session *s;
        int r = 0;

        (void) userdata;
        s = session_argument(m, "LockSession", error, &r);
        if (!s)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_get_session(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct fake_session *s;
        int r = 0;

        (void) userdata;
        s = session_argument(m, "GetSession", error, &r);
        if (!s)
                return r;
        return reply_session_path(m, s);
}

static int method_get_session_by_pid(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct fake_session *s;
        uint32_t pid;
        int r;

        (void) userdata;
        r = sd_bus_message_read(m, "u", &pid);
        if (r < 0)
                return r;
        log_call("GetSessionByPID %u", (unsigned) pid);
        if (stall)
                return 1;
        s = session_by_pid(pid);
        if (!s)
                return sd_bus_error_setf(error, ERROR_NO_SESSION_FOR_PID,
                                         "PID %u does not belong to any known session",
                                         (unsigned) pid);
        return reply_session_path(m, s);
}

static int property_get_leader(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error)
{
        const struct fake_session *s = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        log_call("Leader %s", s->id);
        return sd_bus_message_append(reply, "u", s->pids[0]);
}

static int property_get_idle_hint(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply, void *userdata,
                                  sd_bus_error *error)
{
        const struct fake_session *s = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        log_call("IdleHint %s", s->id);
        return sd_bus_message_append(reply, "b", s->idle_since != 0);
}

static int property_get_idle_since(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error)
{
        const struct fake_session *s = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "t", s->idle_since * UINT64_C(1000000));
}

static int property_get_type(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error)
{
        const struct fake_session *s = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", s->type[0] ? s->type : "tty");
}

/* Notify(app_name s, replaces_id u, app_icon s, summary s, body s,
 * actions as, hints a{sv}, expire_timeout i) -> id u */
static int method_notify(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        static uint32_t next_id = 1;
        const char *app, *icon, *summary, *body;
        uint32_t replaces;
        int r;

        (void) userdata, (void) error;
        r = sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body);
        if (r < 0)
                return r;
        log_call("Notify %s|%s|%s", app, summary, body);
        return sd_bus_reply_method_return(m, "u", next_id++);
}

static const sd_bus_vtable notifications_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Notify", "susssasa{sv}i", "u", method_notify, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static int session_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                        void **ret_found, sd_bus_error *error)
{
        struct fake_session *s;
        char *id = NULL;
        int r;

        (void) bus, (void) interface, (void) userdata, (void) error;
        r = sd_bus_path_decode(path, SESSION_PREFIX, &id);
        if (r <= 0)
                return r;
        s = session_by_id(id);
        free(id);
        if (!s)
                return 0;
        *ret_found = s;
        return 1;
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("TerminateSession", "s", "", method_terminate_session,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("LockSession", "s", "", method_lock_session, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetSession", "s", "o", method_get_session, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetSessionByPID", "u", "o", method_get_session_by_pid,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Leader", "u", property_get_leader, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("IdleHint", "b", property_get_idle_hint, 0, 0),
        SD_BUS_PROPERTY("IdleSinceHint", "t", property_get_idle_since, 0, 0),
        SD_BUS_PROPERTY("Type", "s", property_get_type, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

/* "ID:PID[,PID...]" */
static int parse_session(const char *arg)
{
        struct fake_session *s;
        const char *colon = strchr(arg, ':');
        const char *p;
        char *end;
        unsigned long pid;

        if (!colon || colon == arg || (size_t) (colon - arg) > SESSION_ID_MAX ||
            n_sessions == SESSIONS_MAX)
                return -EINVAL;
        s = &sessions[n_sessions];
        memcpy(s->id, arg, (size_t) (colon - arg));
        s->id[colon - arg] = '\0';
        p = colon + 1;
        do {
                if (s->n_pids == SESSION_PIDS_MAX || *p < '0' || *p > '9')
                        return -EINVAL;
                errno = 0;
                pid = strtoul(p, &end, 10);
                if (errno != 0 || pid == 0 || pid > UINT32_MAX || (*end != ',' && *end != '\0'))
                        return -EINVAL;
                s->pids[s->n_pids++] = (uint32_t) pid;
                p = end + 1;
        } while (*end == ',');
        s->present = true;
        n_sessions++;
        return 0;
}

/* "ID:SINCE", for a session given before it. */
static int parse_idle(const char *arg)
{
        const char *colon = strchr(arg, ':');
        unsigned long long since;
        char id[SESSION_ID_MAX + 1];
        char *end;

        if (!colon || colon == arg || (size_t) (colon - arg) > SESSION_ID_MAX || colon[1] < '0' ||
            colon[1] > '9')
                return -EINVAL;
        memcpy(id, arg, (size_t) (colon - arg));
        id[colon - arg] = '\0';
        errno = 0;
        since = strtoull(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || since == 0 || since > UINT64_MAX / 1000000)
                return -EINVAL;
        for (size_t i = 0; i < n_sessions; i++)
                if (strcmp(sessions[i].id, id) == 0) {
                        sessions[i].idle_since = since;
                        return 0;
                }
        return -ENOENT;
}

/* "ID:TYPE", for a session given before it. */
static int parse_type(const char *arg)
{
        const char *colon = strchr(arg, ':');

        if (!colon || colon == arg || strlen(colon + 1) == 0 || strlen(colon + 1) >= 16)
                return -EINVAL;
        for (size_t i = 0; i < n_sessions; i++)
                if (strlen(sessions[i].id) == (size_t) (colon - arg) &&
                    strncmp(sessions[i].id, arg, (size_t) (colon - arg)) == 0) {
                        snprintf(sessions[i].type, sizeof sessions[i].type, "%s", colon + 1);
                        return 0;
                }
        return -ENOENT;
}

static void usage(void)
{
        fprintf(stderr, "usage: fake-logind --address ADDR --log FILE "
                "[--session ID:PID[,PID...]]... [--idle ID:SINCE]... [--type ID:TYPE]... "
                "[--stall] [--notifications]\n");
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "address", required_argument, NULL, 'a' },
                { "log", required_argument, NULL, 'l' },
                { "session", required_argument, NULL, 's' },
                { "stall", no_argument, NULL, 'S' },
                { "idle", required_argument, NULL, 'i' },
                { "type", required_argument, NULL, 't' },
                { "notifications", no_argument, NULL, 'n' },
                {}
        };
        const char *address = NULL, *log_path = NULL;
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        sigset_t mask;
        int c, r, status = EXIT_FAILURE;

        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'a':
                        address = optarg;
                        break;
                case 'l':
                        log_path = optarg;
                        break;
                case 's':
                        if (parse_session(optarg) < 0) {
                                fprintf(stderr, "fake-logind: bad --session '%s' "
                                        "(want ID:PID[,PID...])\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                case 'S':
                        stall = true;
                        break;
                case 't':
                        if (parse_type(optarg) < 0) {
                                fprintf(stderr, "fake-logind: bad --type '%s' (want ID:TYPE for a "
                                        "--session given before it)\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                case 'n':
                        notifications = true;
                        break;
                case 'i':
                        if (parse_idle(optarg) < 0) {
                                fprintf(stderr, "fake-logind: bad --idle '%s' (want ID:SINCE for a "
                                        "--session given before it)\n", optarg);
                                return EXIT_FAILURE;
                        }
                        break;
                default:
                        usage();
                        return EXIT_FAILURE;
                }
        }
        if (!address || !log_path || optind != argc) {
                usage();
                return EXIT_FAILURE;
        }
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0) {
                fprintf(stderr, "fake-logind: cannot open %s: %s\n", log_path, strerror(errno));
                return EXIT_FAILURE;
        }

        /* sd-event takes these signals only while they are blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        if ((r = sd_event_new(&event)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL)) < 0) {
                fprintf(stderr, "fake-logind: cannot set up the event loop: %s\n", strerror(-r));
                goto out;
        }
        if ((r = sd_bus_new(&bus)) < 0 ||
            (r = sd_bus_set_address(bus, address)) < 0 ||
            (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
            (r = sd_bus_start(bus)) < 0) {
                fprintf(stderr, "fake-logind: cannot connect to %s: %s\n", address, strerror(-r));
                goto out;
        }
        if (notifications) {
                if ((r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/Notifications",
                                                  "org.freedesktop.Notifications", notifications_vtable,
                                                  NULL)) < 0 ||
                    (r = sd_bus_request_name(bus, "org.freedesktop.Notifications", 0)) < 0) {
                        fprintf(stderr, "fake-logind: cannot serve notifications: %s\n", strerror(-r));
                        goto out;
                }
        } else if ((r = sd_bus_add_object_vtable(bus, NULL, LOGIND_PATH, "org.freedesktop.login1.Manager",
                                          manager_vtable, NULL)) < 0 ||
            (r = sd_bus_add_fallback_vtable(bus, NULL, SESSION_PREFIX,
                                            "org.freedesktop.login1.Session", session_vtable,
                                            session_find, NULL)) < 0) {
                fprintf(stderr, "fake-logind: cannot export objects: %s\n", strerror(-r));
                goto out;
        }
        if (!notifications && (r = sd_bus_request_name(bus, LOGIND_NAME, 0)) < 0) {
                fprintf(stderr, "fake-logind: cannot own %s: %s\n", LOGIND_NAME, strerror(-r));
                goto out;
        }
        if ((r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL)) < 0 ||
            (r = sd_bus_set_exit_on_disconnect(bus, 1)) < 0) {
                fprintf(stderr, "fake-logind: cannot attach the bus: %s\n", strerror(-r));
                goto out;
        }
        printf("ready\n");
        fflush(stdout);

        r = sd_event_loop(event);
        if (r < 0) {
                fprintf(stderr, "fake-logind: event loop failed: %s\n", strerror(-r));
                goto out;
        }
        status = EXIT_SUCCESS;
out:
        sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        close(log_fd);
        return status;
}
