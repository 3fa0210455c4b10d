/* sha256.h — a small SHA-256 (FIPS 180-4) for the genesis log's hash chain.
 *
 * Owns: hashing bytes. Never allocates, never does I/O.
 */
#ifndef BAY0_STATE_SHA256_H
#define BAY0_STATE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_BYTES 65 /* 64 hex digits + NUL */

struct sha256_ctx {
    uint32_t h[8];
    uint64_t total_bytes;
    uint8_t block[64];
    size_t block_used;
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_BYTES]);
/* One-shot into lowercase hex (64 digits + NUL). */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_BYTES]);
void sha256_to_hex(const uint8_t d[SHA256_DIGEST_BYTES],
                   char out[SHA256_HEX_BYTES]);

#endif
