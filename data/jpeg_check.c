/* jpeg_check.c — see jpeg_check.h: find every DHT segment of a JPEG, including those between the
 * scans of a progressive file, and check each table's code count as stb_image v2.28 does. */
#include "data/jpeg_check.h"

/* One DHT segment's payload: tables of (class/id byte, 16 counts, sum(counts) symbols). */
static int dht_ok(const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i + 17 <= len) {
        unsigned codes = 0;
        for (int k = 0; k < 16; k++) codes += p[i + 1 + k];
        if (codes > 256) return 0;
        i += 17 + codes;
    }
    return 1;
}

int jpeg_check_dht(const uint8_t *b, size_t n) {
    if (n < 4 || b[0] != 0xFF || b[1] != 0xD8) return 0;
    size_t i = 2;
    while (i + 2 <= n) {
        if (b[i] != 0xFF) { /* entropy-coded data after a scan: look for the next marker */
            i++;
            continue;
        }
        uint8_t m = b[i + 1];
        /* fill bytes, stuffed 0xFF00, RSTn, SOI, TEM: no length field */
        if (m == 0xFF) { i++; continue; }
        if (m == 0x00 || m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }
        if (m == 0xD9) return 0; /* EOI */
        if (i + 4 > n) return 0;
        size_t seg = (size_t)b[i + 2] << 8 | b[i + 3];
        if (seg < 2) return 0; /* stb refuses it itself */
        size_t end = i + 2 + seg < n ? i + 2 + seg : n;
        if (m == 0xC4 && !dht_ok(b + i + 4, end - (i + 4))) return -1;
        i = end;
    }
    return 0;
}
