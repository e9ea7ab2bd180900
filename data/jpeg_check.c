/* jpeg_check.c — see jpeg_check.h: find every DHT segment of a JPEG, including those between the
 * scans of a progressive file, and check each table's code count as stb_image v2.28 does,
 * reading each segment the way v2.27 reads it. */
#include "data/jpeg_check.h"

/* One DHT segment whose payload starts at b[p] and declares L bytes. Read as stb_image reads it:
 * it keeps reading tables while L > 0, even past the declared end (bytes past the file read as
 * 0). Returns the offset where stb stops reading, or 0 when a table has more than 256 codes. */
static size_t dht_end(const uint8_t *b, size_t n, size_t p, long L) {
    while (L > 0) {
        unsigned codes = 0;
        for (size_t k = 1; k <= 16; k++) codes += p + k < n ? b[p + k] : 0;
        if (codes > 256) return 0;
        p += 17 + codes;
        L -= 17 + (long)codes;
    }
    return p;
}

int jpeg_check_dht(const uint8_t *b, size_t n) {
    /* stb takes any run of 0xFF fill bytes before the SOI marker */
    size_t i = 0;
    while (i < n && b[i] == 0xFF) i++;
    if (i == 0 || i >= n || b[i] != 0xD8) return 0;
    i++;
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
        size_t end = i + 2 + seg;
        if (m == 0xC4) {
            size_t stop = dht_end(b, n, i + 4, (long)seg - 2);
            if (!stop) return -1;
            if (stop > end) end = stop; /* stb read on past the declared length */
        }
        i = end;
    }
    return 0;
}
