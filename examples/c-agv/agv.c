/*
 * An example AGV in C over the rcs protocol's C ABI (protocol-c, include/rcs_protocol.h).
 *
 * It connects over TCP to an RCS, accesses (normal mode, or secure mode with --secure),
 * registers, reports its status every period the RCS configures, asks for a safe space around
 * itself, holds it a moment and releases it, then follows the paths the RCS releases (driving
 * straight from node to node at --speed m/s) to the end of each task, reporting task progress
 * on every node reached. It answers every command:
 * motion, task control, safety stop, navigation and map switches, charging, safe-space revoke;
 * parameters are answered "unsupported".
 *
 * It prints one line per protocol milestone on stdout ("registered", "granted 3",
 * "released 3", "reached 8", ...) and stops when --run-ms have passed, when the session ends, or
 * (with --stdin) when its standard input closes.
 *
 *   c-agv --server 127.0.0.1:7700 --id 1 --x 0 --y 0 [--map 1] [--speed 2.0] [--no-space]
 *         [--run-ms 60000] [--stdin]
 *         [--secure AGV_PRIVATE_KEY_HEX RCS_PUBLIC_KEY_HEX [--fast | --gcm]]
 *
 * Build: make (see Makefile). Single-threaded; the library does no I/O and reads no clock.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rcs_protocol.h"

#define MAX_PATH 512
#define FRAME_BUF 65536

/* One node of the path being driven. */
struct node {
    uint32_t id;
    double x, y;
    RcsTargetAttribute attribute;
};

/* The simulated machine. */
struct agv {
    uint16_t map_id;
    double x, y, theta, speed;
    RcsNavigationMode navigation;
    float battery_pct;
    bool charging;
    uint32_t last_node_id;
    uint32_t task_id;
    struct node path[MAX_PATH];
    size_t path_len, released, next;
    bool paused, safety_stopped;
    /* safe space: 0 none, 1 asked, 2 held */
    int space;
    uint32_t space_seq, grant_id, release_seq;
    uint64_t release_at;
    bool want_space;
    /* a status report went out: the RCS knows where the AGV is (it grants no space before) */
    bool reported;
};

static uint64_t utc_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, RcsStatus s, const RcsAgv *session) {
    fprintf(stderr, "c-agv: %s: %s %s\n", what, rcs_status_name(s),
            session ? rcs_agv_last_error(session) : "");
    exit(1);
}

static bool moving(const struct agv *a) {
    return a->next < a->released && !a->paused && !a->safety_stopped;
}

static RcsAgvState state_of(const struct agv *a) {
    if (a->safety_stopped) return RCS_AGV_STATE_SAFETY_STOP;
    if (a->space == 2) return RCS_AGV_STATE_IN_SAFE_SPACE;
    if (a->charging) return RCS_AGV_STATE_CHARGING;
    if (a->paused) return RCS_AGV_STATE_PAUSED;
    if (moving(a)) return RCS_AGV_STATE_WORKING;
    if (a->next < a->path_len) return RCS_AGV_STATE_WAITING_FOR_RELEASE;
    return RCS_AGV_STATE_IDLE;
}

static void send_status(RcsAgv *s, struct agv *a) {
    RcsStatusReport r;
    memset(&r, 0, sizeof r);
    r.map_id = a->map_id;
    r.pose.x = a->x;
    r.pose.y = a->y;
    r.pose.theta = a->theta;
    r.localisation_quality = 95;
    r.navigation_mode = a->navigation;
    r.velocity.vx = moving(a) ? (float)a->speed : 0.0f;
    r.state = state_of(a);
    r.battery_pct = a->battery_pct;
    r.battery_voltage = 48.0f;
    r.charging = a->charging;
    r.task_id = a->task_id;
    r.last_node_id = a->last_node_id;
    r.grant_id = a->space == 2 ? a->grant_id : 0;
    RcsStatus st = rcs_agv_send_status(s, utc_ms(), &r, NULL);
    if (st != RCS_STATUS_OK && st != RCS_STATUS_NOT_ESTABLISHED) die("status", st, s);
    if (st == RCS_STATUS_OK) a->reported = true;
}

/* Task progress, on every node reached: running, waiting for the next piece, or completed (the
 * task's destination reached). */
static void send_progress(RcsAgv *s, const struct agv *a) {
    RcsTaskProgress p;
    memset(&p, 0, sizeof p);
    p.task_id = a->task_id;
    p.last_node_id = a->last_node_id;
    if (a->next > 0 && a->next >= a->path_len &&
        a->path[a->next - 1].attribute == RCS_TARGET_ATTRIBUTE_DESTINATION) {
        p.state = RCS_TASK_STATE_COMPLETED;
        printf("progress completed %u\n", a->task_id);
    } else {
        p.state = moving(a) ? RCS_TASK_STATE_RUNNING : RCS_TASK_STATE_WAITING_FOR_RELEASE;
    }
    p.result = RCS_RESULT_CODE_OK;
    RcsStatus st = rcs_agv_send_task_progress(s, utc_ms(), &p, NULL);
    if (st != RCS_STATUS_OK && st != RCS_STATUS_NOT_ESTABLISHED) die("progress", st, s);
}

/* Drives `dt` seconds along the released path; returns true when a node was reached. */
static bool step(struct agv *a, double dt) {
    bool reached = false;
    double budget = a->speed * dt;
    while (moving(a) && budget > 0.0) {
        const struct node *t = &a->path[a->next];
        double dx = t->x - a->x, dy = t->y - a->y, d = hypot(dx, dy);
        if (d <= budget) {
            a->x = t->x;
            a->y = t->y;
            a->last_node_id = t->id;
            a->next++;
            budget -= d;
            reached = true;
            printf("reached %u\n", t->id);
        } else {
            a->theta = atan2(dy, dx);
            a->x += dx / d * budget;
            a->y += dy / d * budget;
            budget = 0.0;
        }
    }
    return reached;
}

/* A MotionCommand: a new path, or the next piece of the current one (docs/protocol.md 6.6). */
static RcsResultCode motion(struct agv *a, const RcsMotionCommand *c) {
    if (a->safety_stopped) return RCS_RESULT_CODE_STATE_CONFLICT;
    if (c->map_id != a->map_id) return RCS_RESULT_CODE_MAP_MISMATCH;
    if (c->nodes_len == 0 || c->nodes_len > MAX_PATH) return RCS_RESULT_CODE_INVALID_PARAMETER;
    const RcsPathNode *first = &c->nodes[0];
    bool at_first = hypot(first->pose.x - a->x, first->pose.y - a->y) < 0.05;
    long from_k = -1;
    if (c->task_id == a->task_id && !at_first) {
        size_t lo = a->next > 0 ? a->next - 1 : 0;
        size_t hi = a->released < a->path_len ? a->released : a->path_len;
        for (size_t k = hi; k-- > lo;) {
            if (a->path[k].id == first->node_id) {
                from_k = (long)k;
                break;
            }
        }
    }
    size_t base = 0;
    if (from_k >= 0) {
        base = (size_t)from_k;
        if (base + c->nodes_len > MAX_PATH) return RCS_RESULT_CODE_INVALID_PARAMETER;
    } else {
        a->task_id = c->task_id;
        a->next = at_first ? 1 : 0;
        if (at_first) a->last_node_id = first->node_id;
        printf("task %u\n", c->task_id);
    }
    for (size_t i = 0; i < c->nodes_len; i++) {
        a->path[base + i].id = c->nodes[i].node_id;
        a->path[base + i].x = c->nodes[i].pose.x;
        a->path[base + i].y = c->nodes[i].pose.y;
        a->path[base + i].attribute = c->nodes[i].attribute;
    }
    a->path_len = base + c->nodes_len;
    a->released = base + c->released_nodes;
    a->charging = false;
    return RCS_RESULT_CODE_OK;
}

/* Answers a command of the RCS. */
static void command(RcsAgv *s, struct agv *a, const RcsAgvEvent *e) {
    uint64_t now = utc_ms();
    RcsStatus st = RCS_STATUS_OK;
    RcsResultCode ok = RCS_RESULT_CODE_OK;
    switch (e->message_type) {
    case RCS_MESSAGE_TYPE_MOTION_COMMAND:
        st = rcs_agv_ack(s, now, e->seq, e->message_type, motion(a, &e->motion));
        break;
    case RCS_MESSAGE_TYPE_TASK_CONTROL:
        if (e->task_control.op == RCS_TASK_OP_CANCEL) {
            a->path_len = a->released = a->next = 0;
            a->task_id = 0;
            a->paused = false;
        } else if (a->next >= a->path_len) {
            ok = RCS_RESULT_CODE_STATE_CONFLICT; /* pause or resume without a task */
        } else {
            a->paused = e->task_control.op == RCS_TASK_OP_PAUSE;
        }
        st = rcs_agv_ack(s, now, e->seq, e->message_type, ok);
        break;
    case RCS_MESSAGE_TYPE_SAFETY_STOP:
        if (e->safety_stop.op == RCS_STOP_OP_STOP) {
            a->safety_stopped = true;
            a->path_len = a->released = a->next = 0;
        } else {
            a->safety_stopped = false;
        }
        st = rcs_agv_ack(s, now, e->seq, e->message_type, ok);
        break;
    case RCS_MESSAGE_TYPE_SPACE_REVOKE:
        if (a->space == 2 && a->grant_id == e->space_revoke.grant_id) a->space = 0;
        st = rcs_agv_ack(s, now, e->seq, e->message_type, ok);
        break;
    case RCS_MESSAGE_TYPE_CHARGE_CONTROL:
        a->charging = e->charge_control.op == RCS_CHARGE_OP_START;
        st = rcs_agv_answer_charge(s, now, e->seq, ok, a->battery_pct, a->charging);
        break;
    case RCS_MESSAGE_TYPE_NAV_SWITCH:
        a->navigation = e->nav_switch.target;
        printf("navigation %u\n", (unsigned)a->navigation);
        st = rcs_agv_answer_nav_switch(s, now, e->seq, ok, a->navigation, 90);
        break;
    case RCS_MESSAGE_TYPE_MAP_SWITCH:
        a->map_id = e->map_switch.target_map_id;
        a->x = e->map_switch.initial_pose.x;
        a->y = e->map_switch.initial_pose.y;
        a->theta = e->map_switch.initial_pose.theta;
        a->navigation = e->map_switch.navigation;
        a->path_len = a->released = a->next = 0;
        st = rcs_agv_answer_map_switch(s, now, e->seq, ok, a->map_id, 90,
                                       &e->map_switch.initial_pose);
        break;
    case RCS_MESSAGE_TYPE_PARAM_QUERY:
        st = rcs_agv_answer_param_query(s, now, e->seq, RCS_RESULT_CODE_UNSUPPORTED, NULL, 0);
        break;
    case RCS_MESSAGE_TYPE_PARAM_SET:
        st = rcs_agv_answer_param_set(s, now, e->seq, RCS_RESULT_CODE_UNSUPPORTED, NULL, 0);
        break;
    default:
        st = rcs_agv_ack(s, now, e->seq, e->message_type, RCS_RESULT_CODE_UNSUPPORTED);
    }
    if (st != RCS_STATUS_OK) die("answer", st, s);
}

static void request_space(RcsAgv *s, struct agv *a) {
    RcsSpaceRequest r;
    memset(&r, 0, sizeof r);
    r.map_id = a->map_id;
    r.region.kind = RCS_REGION_CIRCLE;
    r.region.center.x = a->x;
    r.region.center.y = a->y;
    r.region.radius = 0.8f;
    r.limit = RCS_SPACE_LIMIT_FREE;
    r.duration_ms = 5000;
    r.reason = RCS_SPACE_REASON_OBSTACLE_AVOIDANCE;
    RcsStatus st = rcs_agv_request_space(s, utc_ms(), &r, &a->space_seq);
    if (st != RCS_STATUS_OK) die("space request", st, s);
    a->space = 1;
    printf("space asked\n");
}

/* An answer to one of our requests. */
static void response(RcsAgv *s, struct agv *a, const RcsAgvEvent *e) {
    if (a->space == 1 && e->seq == a->space_seq) {
        if (e->message_type == RCS_MESSAGE_TYPE_SPACE_GRANT) {
            a->space = 2;
            a->grant_id = e->space_grant.grant_id;
            a->release_at = utc_ms() + 500; /* "manoeuvre" for half a second */
            printf("granted %u\n", a->grant_id);
            send_status(s, a);
        } else {
            a->space = 0;
            a->want_space = false; /* asks once */
            printf("denied %u\n", (unsigned)e->space_deny.reason);
        }
    } else if (a->release_seq != 0 && e->seq == a->release_seq) {
        printf("released %u result %u\n", a->grant_id, (unsigned)e->ack.result);
        a->release_seq = 0;
    }
}

static int dial(const char *server) {
    char host[256];
    const char *colon = strrchr(server, ':');
    if (!colon || (size_t)(colon - server) >= sizeof host) {
        fprintf(stderr, "c-agv: --server HOST:PORT\n");
        exit(2);
    }
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = '\0';
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        fprintf(stderr, "c-agv: cannot resolve %s\n", server);
        exit(1);
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        perror("c-agv: connect");
        exit(1);
    }
    freeaddrinfo(res);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void hex(const char *text, uint8_t *out, size_t len) {
    if (strlen(text) != 2 * len) {
        fprintf(stderr, "c-agv: a key of %zu bytes is %zu hex digits\n", len, 2 * len);
        exit(2);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(text + 2 * i, "%2x", &v) != 1) exit(2);
        out[i] = (uint8_t)v;
    }
}

/* Writes every frame the session has to send. */
static void flush(RcsAgv *s, int fd, uint8_t *buf) {
    for (;;) {
        size_t n = 0;
        RcsStatus st = rcs_agv_poll_transmit(s, buf, FRAME_BUF, &n);
        if (st == RCS_STATUS_EMPTY) return;
        if (st != RCS_STATUS_OK) die("transmit", st, s);
        for (size_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                perror("c-agv: write");
                exit(1);
            }
            off += (size_t)w;
        }
    }
}

int main(int argc, char **argv) {
    const char *server = "127.0.0.1:7700";
    const char *secure_key = NULL, *rcs_key = NULL;
    struct agv a;
    memset(&a, 0, sizeof a);
    a.map_id = 1;
    a.speed = 2.0;
    a.battery_pct = 88.0f;
    a.navigation = RCS_NAVIGATION_MODE_SLAM;
    a.want_space = true;
    uint32_t id = 1;
    uint64_t run_ms = 60000;
    RcsSecureProfile profile = RCS_SECURE_PROFILE_GUIDE;
    bool watch_stdin = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--no-space")) {
            a.want_space = false;
        } else if (!strcmp(arg, "--stdin")) {
            watch_stdin = true;
        } else if (!strcmp(arg, "--fast")) {
            profile = RCS_SECURE_PROFILE_FAST;
        } else if (!strcmp(arg, "--gcm")) {
            profile = RCS_SECURE_PROFILE_GCM;
        } else if (!strcmp(arg, "--secure") && i + 2 < argc) {
            secure_key = argv[++i];
            rcs_key = argv[++i];
        } else if (!val) {
            fprintf(stderr, "c-agv: %s needs a value (see the comment at the top of agv.c)\n", arg);
            return 2;
        } else {
            i++;
            if (!strcmp(arg, "--server")) server = val;
            else if (!strcmp(arg, "--id")) id = (uint32_t)strtoul(val, NULL, 10);
            else if (!strcmp(arg, "--x")) a.x = strtod(val, NULL);
            else if (!strcmp(arg, "--y")) a.y = strtod(val, NULL);
            else if (!strcmp(arg, "--map")) a.map_id = (uint16_t)strtoul(val, NULL, 10);
            else if (!strcmp(arg, "--speed")) a.speed = strtod(val, NULL);
            else if (!strcmp(arg, "--run-ms")) run_ms = strtoull(val, NULL, 10);
            else {
                fprintf(stderr, "c-agv: unknown option %s\n", arg);
                return 2;
            }
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The configuration: who it is and what it registers. */
    RcsAgvConfig config;
    rcs_agv_config_init(&config);
    config.agv_id = id;
    config.profile = profile;
    config.vendor = "rcs examples";
    config.model = "C-AGV";
    config.serial = "C-0001";
    config.firmware = "1.0";
    config.footprint = (RcsFootprint){.front = 0.5f, .rear = 0.5f, .left = 0.4f, .right = 0.4f, .height = 0.3f};
    config.speeds = (RcsSpeedLimits){.forward = 1.5f, .reverse = 0.5f, .angular = 1.0f,
                                     .acceleration = 0.5f, .deceleration = 1.0f};
    config.load_capacity_kg = 500.0f;
    config.battery_capacity_wh = 1000.0f;
    config.battery_nominal_voltage = 48.0f;
    const RcsNavigationMode modes[] = {RCS_NAVIGATION_MODE_SLAM, RCS_NAVIGATION_MODE_QR_CODE};
    config.navigation_modes = modes;
    config.navigation_modes_len = 2;

    RcsAgv *s = NULL;
    RcsStatus st;
    if (secure_key) {
        uint8_t priv[32], pub[65];
        hex(secure_key, priv, sizeof priv);
        hex(rcs_key, pub, sizeof pub);
        RcsSecureKeys keys = {.agv_private_key = priv, .rcs_public_key = pub, .id = NULL};
        st = rcs_agv_new_secure(&config, &keys, utc_ms(), &s);
    } else {
        st = rcs_agv_new(&config, utc_ms(), &s);
    }
    if (st != RCS_STATUS_OK) die("new", st, NULL);

    int fd = dial(server);
    if ((st = rcs_agv_connect(s, utc_ms())) != RCS_STATUS_OK) die("connect", st, s);

    static uint8_t buf[FRAME_BUF];
    uint64_t start = utc_ms(), status_period = 1000, next_status = 0;
    double last = mono_s();
    bool stdin_open = true;
    for (;;) {
        uint64_t now = utc_ms();
        /* the machine */
        double t = mono_s();
        if (step(&a, t - last) && rcs_agv_is_established(s)) {
            send_status(s, &a);
            if (a.task_id != 0) send_progress(s, &a);
        }
        last = t;
        if (rcs_agv_is_established(s)) {
            if (a.want_space && a.reported && a.space == 0 && a.grant_id == 0 && a.path_len == 0)
                request_space(s, &a);
            if (a.space == 2 && now >= a.release_at) {
                a.space = 0;
                if ((st = rcs_agv_release_space(s, now, a.grant_id, &a.release_seq)) != RCS_STATUS_OK)
                    die("release", st, s);
                send_status(s, &a);
            }
            if (now >= next_status) {
                send_status(s, &a);
                next_status = now + status_period;
            }
        }
        /* events */
        RcsAgvEvent e;
        while ((st = rcs_agv_poll_event(s, &e)) == RCS_STATUS_OK) {
            switch (e.kind) {
            case RCS_EVENT_KIND_CONNECTED:
                printf("connected mode %u profile %u session %u\n", (unsigned)e.connected.mode,
                       (unsigned)e.connected.profile, e.connected.session_id);
                break;
            case RCS_EVENT_KIND_REGISTERED:
                printf("registered\n");
                send_status(s, &a);
                break;
            case RCS_EVENT_KIND_CONFIGURED:
                status_period = e.config.status_period_ms ? e.config.status_period_ms : 1000;
                printf("configured status every %u ms\n", e.config.status_period_ms);
                break;
            case RCS_EVENT_KIND_COMMAND:
                command(s, &a, &e);
                break;
            case RCS_EVENT_KIND_RESPONSE:
                response(s, &a, &e);
                break;
            case RCS_EVENT_KIND_UNANSWERED:
                printf("unanswered %u\n", (unsigned)e.message_type);
                break;
            case RCS_EVENT_KIND_PEER_ERROR:
                printf("peer error %u\n", (unsigned)e.error_code);
                break;
            case RCS_EVENT_KIND_LINK_LOST:
                printf("link lost: stopping\n");
                a.path_len = a.released = a.next = 0;
                break;
            case RCS_EVENT_KIND_CLOSED:
                printf("closed cause %d\n", (int)e.closed.cause);
                break;
            default:
                break;
            }
        }
        if (st != RCS_STATUS_EMPTY) die("event", st, s);
        flush(s, fd, buf);
        if (rcs_agv_is_closed(s) || utc_ms() - start >= run_ms || !stdin_open) break;

        /* wait for bytes, the session's timer, the next status or 20 ms of driving */
        uint64_t wake = now + 20, at;
        if (rcs_agv_poll_timeout(s, &at) == RCS_STATUS_OK && at < wake) wake = at;
        uint64_t now2 = utc_ms();
        int timeout = wake > now2 ? (int)(wake - now2) : 0;
        struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        int n = poll(fds, watch_stdin ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR) {
            perror("c-agv: poll");
            return 1;
        }
        if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                printf("connection closed\n");
                break;
            }
            if ((st = rcs_agv_handle_input(s, utc_ms(), buf, (size_t)r)) != RCS_STATUS_OK) die("input", st, s);
        }
        if (n > 0 && watch_stdin && (fds[1].revents & (POLLIN | POLLHUP))) {
            char junk[256];
            if (read(0, junk, sizeof junk) <= 0) stdin_open = false;
        }
        if ((st = rcs_agv_handle_timeout(s, utc_ms())) != RCS_STATUS_OK) die("timeout", st, s);
    }
    if (!rcs_agv_is_closed(s)) {
        rcs_agv_close(s, utc_ms(), RCS_CLOSE_REASON_SHUTDOWN);
        flush(s, fd, buf);
    }
    printf("bye\n");
    close(fd);
    rcs_agv_free(s);
    return 0;
}
