/* diepoint.c — fault injection for the crash-consistency tests (Gate B):
 * the process writing the state database dies at a chosen point of a
 * write, deterministically (no timing).
 *
 *   BAY0_TEST_STATE_DIE=STAGE:OP[:N]   (environment) the process SIGKILLs
 *       itself: a crash; the kernel keeps what was written.
 *   bay0.test_state_die=STAGE:OP[:N]   (kernel command line) the process
 *       cuts the machine's power: a line on /dev/kmsg naming the point,
 *       then reboot(2) without sync, so what is not on the disk is lost
 *       (not allowed to reboot, it stops there for the test to kill the
 *       machine). bay0.test_state_die=@FILE: the spec is FILE's first line,
 *       read when a process first reaches a point (a test arms the next
 *       write by writing FILE, on tmpfs so that a boot starts unarmed).
 * STAGE is before or after the statement named OP: the `what` of
 * state_sql_exec()/state_sql_done() (begin, commit, migrate, persona-put,
 * persona-set-desired, service-set, ...) or genesis (an append to the
 * genesis log). N (default 1): the Nth time this process reaches it.
 *
 * Owns: parsing the spec and dying. Costs one read of /proc/cmdline in a
 * process that writes; never runs in PID 1's loop (state work runs in
 * children).
 */
#include "state/state_internal.h"

#include "log.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

#define DIE_CMDLINE_KEY "bay0.test_state_die="

static struct {
    bool loaded, armed, cut;
    char stage[8], op[48];
    uint32_t at, seen;
} die;

static void die_parse(const char *spec, bool cut)
{
    char buf[96];
    uint64_t at = 1;
    if (!str_copy(buf, sizeof buf, spec))
        return;
    char *op = strchr(buf, ':');
    char *n = op != NULL ? strchr(op + 1, ':') : NULL;
    if (op != NULL)
        *op++ = '\0';
    if (n != NULL)
        *n++ = '\0';
    if (op == NULL || op[0] == '\0' || (n != NULL && (!parse_u64(n, UINT32_MAX, &at) || at == 0)) ||
        (strcmp(buf, "before") != 0 && strcmp(buf, "after") != 0) ||
        !str_copy(die.op, sizeof die.op, op)) {
        log_warn("event=test-state-die-ignored spec=%s error=\"want before|after:OP[:N]\"", spec);
        return;
    }
    str_copy(die.stage, sizeof die.stage, buf);
    die.at = (uint32_t)at;
    die.cut = cut;
    die.armed = true;
}

static void die_load(void)
{
    die.loaded = true;
    const char *env = getenv("BAY0_TEST_STATE_DIE");
    if (env != NULL) {
        die_parse(env, false);
        return;
    }
    char text[4096], spec[128];
    if (file_read_small(AT_FDCWD, "/proc/cmdline", text, sizeof text) < 0)
        return;
    for (char *w = strtok(text, " \n"); w != NULL; w = strtok(NULL, " \n")) {
        if (strncmp(w, DIE_CMDLINE_KEY, strlen(DIE_CMDLINE_KEY)) != 0)
            continue;
        w += strlen(DIE_CMDLINE_KEY);
        if (w[0] != '@')
            die_parse(w, true);
        else if (file_read_small(AT_FDCWD, w + 1, spec, sizeof spec) > 0) {
            spec[strcspn(spec, "\n")] = '\0';
            die_parse(spec, true);
        }
    }
}

void state_test_point(const char *stage, const char *op)
{
    if (!die.loaded)
        die_load();
    if (!die.armed || strcmp(stage, die.stage) != 0 || strcmp(op, die.op) != 0 ||
        ++die.seen != die.at)
        return;
    if (!die.cut) {
        log_warn("event=test-state-die point=%s:%s:%u action=sigkill", stage, op, die.at);
        raise(SIGKILL);
    }
    int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dprintf(fd, "<2>bay0: event=test-state-die point=%s:%s:%u pid=%d action=power-cut\n",
                stage, op, die.at, (int)getpid());
        close(fd);
    }
    reboot(RB_AUTOBOOT); /* no sync(): the page cache is lost, as in a power cut */
    for (;;)             /* not allowed to: stay at the point */
        raise(SIGSTOP);
}
