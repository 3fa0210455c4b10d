/* test_tenant.c — unit tests of the AI tenant's envelope parser
 * (tenant_ai_conf_parse) and the umbilical's peer rule
 * (umbilical_peer_belongs) against a fake /proc in a temp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tenant.h"
#include "umbilical.h"

static void test_defaults_and_values(void **state)
{
    (void)state;
    struct tenant_ai_conf c;
    char why[300];
    assert_true(tenant_ai_conf_parse("", &c, why, sizeof why));
    assert_string_equal(c.image, TENANT_AI_IMAGE_DEFAULT);
    assert_int_equal(c.cpus_milli, 1000);
    assert_int_equal(c.cpu_shares, 256);
    assert_int_equal(c.oom_score_adj, 900);
    assert_true(tenant_ai_conf_parse("# comment\nimage localhost/x:1\ncpus 0.25 # cap\n"
                                     "cpu-shares 100\nmemory 64M\nmemory-swap 1G\n"
                                     "oom-score-adj 1000\ndrain-ms 0\nready-ms 500\n",
                                     &c, why, sizeof why));
    assert_string_equal(c.image, "localhost/x:1");
    assert_int_equal(c.cpus_milli, 250);
    assert_int_equal(c.cpu_shares, 100);
    assert_int_equal(c.memory_bytes, 64u << 20);
    assert_int_equal(c.memory_swap_bytes, 1ull << 30);
    assert_int_equal(c.oom_score_adj, 1000);
    assert_int_equal(c.drain_ms, 0);
    assert_int_equal(c.ready_ms, 500);
}

static void refused(const char *text, const char *want)
{
    struct tenant_ai_conf c;
    char why[300] = "";
    assert_false(tenant_ai_conf_parse(text, &c, why, sizeof why));
    if (strstr(why, want) == NULL)
        fail_msg("'%s': reason '%s' lacks '%s'", text, why, want);
}

static void test_errors_name_the_line_and_rule(void **state)
{
    (void)state;
    refused("cpus 0\n", "line 1: cpus must be 0.01 to 64");
    refused("\ncpus 1.2345\n", "line 2: cpus");
    refused("cpus 65\n", "cpus");
    refused("cpu-shares 1024\n", "below every persona's 1024");
    refused("cpu-shares 1\n", "cpu-shares");
    refused("memory 1M\n", "at least 6M");
    refused("memory 12Q\n", "memory must be");
    refused("oom-score-adj 0\n", "the tenant dies first");
    refused("oom-score-adj -1000\n", "oom-score-adj");
    refused("memory 128M\nmemory-swap 64M\n", "must be at least memory");
    refused("colour blue\n", "unknown key 'colour'");
    refused("cpus\n", "want 'KEY VALUE'");
    refused("cpus 1 2\n", "want 'KEY VALUE'");
    refused("ready-ms 10\n", "ready-ms must be 100");
}

static void put(const char *dir, int pid, const char *file, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%d", dir, pid);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%d/%s", dir, pid, file);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void proc_entry(const char *dir, int pid, int ppid, const char *cg)
{
    char stat[128], cgroup[128];
    snprintf(stat, sizeof stat, "%d (a (b) c) S %d 1 1 0\n", pid, ppid);
    snprintf(cgroup, sizeof cgroup, "0::%s\n", cg);
    put(dir, pid, "stat", stat);
    put(dir, pid, "cgroup", cgroup);
}

static void test_peer_rule(void **state)
{
    (void)state;
    char dir[] = "/tmp/bay0-test-proc.XXXXXX";
    assert_non_null(mkdtemp(dir));
    proc_entry(dir, 100, 1, "/libpod_parent/libpod-x");   /* the container's init */
    proc_entry(dir, 101, 100, "/libpod_parent/libpod-x"); /* its child */
    proc_entry(dir, 102, 101, "/elsewhere");              /* grandchild, moved */
    proc_entry(dir, 200, 1, "/libpod_parent/libpod-x");   /* joined by exec */
    proc_entry(dir, 300, 1, "/user.slice");               /* a stranger */
    proc_entry(dir, 301, 1, "/");                         /* the root cgroup */
    proc_entry(dir, 400, 1, "/");
    assert_true(umbilical_peer_belongs(dir, 100, 100));
    assert_true(umbilical_peer_belongs(dir, 101, 100));
    assert_true(umbilical_peer_belongs(dir, 102, 100));
    assert_true(umbilical_peer_belongs(dir, 200, 100));
    assert_false(umbilical_peer_belongs(dir, 300, 100));
    assert_false(umbilical_peer_belongs(dir, 301, 400)); /* both in / : not enough */
    assert_false(umbilical_peer_belongs(dir, 0, 100));   /* a sibling pid namespace */
    assert_false(umbilical_peer_belongs(dir, 999, 100)); /* gone */
    assert_false(umbilical_peer_belongs(dir, 100, 1));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors_name_the_line_and_rule),
        cmocka_unit_test(test_peer_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
