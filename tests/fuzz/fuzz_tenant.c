/* fuzz_tenant.c — the AI tenant's two parsers of untrusted text: the
 * envelope config (tenant_ai_conf_parse) and the server's request lines
 * (tenants/ai/ai-server.c, compiled in here with its main renamed), fed
 * through a socketpair the way a persona's client would send them.
 */
#define main ai_server_main
#include "../../tenants/ai/ai-server.c"
#undef main

#include "tenant.h"

#include <stdint.h>

static int pair[2] = {-1, -1};

static void pair_open(void)
{
    if (pair[0] >= 0)
        close(pair[0]);
    if (pair[1] >= 0)
        close(pair[1]);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[TENANT_CONF_BYTES_MAX];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    struct tenant_ai_conf c;
    char why[300];
    if (tenant_ai_conf_parse(text, &c, why, sizeof why)) {
        if (c.memory_swap_bytes < c.memory_bytes || c.cpus_milli < 10 || c.cpu_shares > 1023)
            abort(); /* accepted what the rules refuse */
    }
    pair_open();
    struct client cl = {.fd = pair[0]};
    size_t off = 0;
    while (off < size && cl.fd >= 0) {
        size_t chunk = size - off < 512 ? size - off : 512;
        ssize_t w = write(pair[1], data + off, chunk);
        if (w <= 0)
            break;
        off += (size_t)w;
        on_readable(&cl);
        char sink[4096];
        while (read(pair[1], sink, sizeof sink) > 0)
            ;
    }
    if (cl.fd >= 0)
        close(cl.fd);
    pair[0] = -1;
    return 0;
}
