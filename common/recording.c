/* Reading and writing the recording file's header, and scanning its frames. */
#include "leaktop/recording.h"

#include <string.h>

#include "leaktop/mem.h"
#include "leaktop/proto.h"
#include "leaktop/sockpath.h"

void
lt_rec_header(uint8_t out[LT_REC_HEADER])
{
    memcpy(out, LT_REC_MAGIC, LT_REC_MAGIC_LEN);
    out[12] = LT_REC_VERSION & 0xff;
    out[13] = (LT_REC_VERSION >> 8) & 0xff;
    out[14] = out[15] = 0;
}

int
lt_rec_check_header(const uint8_t *p, size_t len, char **cause)
{
    if (len < LT_REC_HEADER || memcmp(p, LT_REC_MAGIC, LT_REC_MAGIC_LEN) != 0) {
        *cause = lt_asprintf("not a leaktop recording (no LEAKTOP-REC header)");
        return -1;
    }
    uint32_t v = (uint32_t)p[12] | (uint32_t)p[13] << 8 | (uint32_t)p[14] << 16 |
                 (uint32_t)p[15] << 24;
    if (v == 0) {
        *cause = lt_asprintf("not a leaktop recording (format version 0)");
        return -1;
    }
    if (v > LT_REC_VERSION) {
        *cause = lt_asprintf("recording version %u is newer than this leaktop reads (%u)", v,
                             LT_REC_VERSION);
        return -1;
    }
    return 0;
}

size_t
lt_rec_scan(const uint8_t *data, size_t len,
            void (*on_frame)(void *ctx, size_t off, uint16_t type, uint16_t flags,
                             const uint8_t *payload, uint32_t plen),
            void *ctx, char **cause)
{
    *cause = NULL;
    size_t off = LT_REC_HEADER;
    lt_msg m;
    memset(&m, 0, sizeof m);
    while (off < len) {
        if (len - off < LT_FRAME_HEADER) {
            *cause = lt_asprintf("the recording is truncated at byte %zu (half a frame header)",
                                 off);
            break;
        }
        const uint8_t *h = data + off;
        uint32_t n = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                     (uint32_t)h[3] << 24;
        uint16_t type = (uint16_t)(h[4] | h[5] << 8), flags = (uint16_t)(h[6] | h[7] << 8);
        if (n > LT_FRAME_MAX) {
            *cause = lt_asprintf("the recording is corrupted at byte %zu (a frame of %u bytes)",
                                 off, n);
            break;
        }
        if (len - off - LT_FRAME_HEADER < n) {
            *cause = lt_asprintf("the recording is truncated at byte %zu (a %s frame cut short)",
                                 off, lt_frame_name(type));
            break;
        }
        if (lt_decode(&m, type, flags, h + LT_FRAME_HEADER, n) < 0) {
            *cause = lt_asprintf("the recording is corrupted at byte %zu (a malformed %s frame)",
                                 off, lt_frame_name(type));
            break;
        }
        if (on_frame)
            on_frame(ctx, off, type, flags, h + LT_FRAME_HEADER, n);
        off += LT_FRAME_HEADER + n;
    }
    lt_msg_clear(&m);
    return off > len ? len : off;
}
