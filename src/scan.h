/* scan.h — filling the service table from the scan directory (scan.c):
 * the first scan, `reload`, and freeing the slots of removed services.
 */
#ifndef BAY0_SCAN_H
#define BAY0_SCAN_H

#include <stdbool.h>
#include <stdint.h>

/* Allocates the table (and its indexes, spawn cells, graph) once. */
int sup_table_init(uint32_t slots_wanted);
/* Reads the scan directory: adds new services (starting them unless
 * `down`, or unless initial is false and ...), reloads changed ones,
 * marks vanished ones removed. Returns the number of changes. */
struct scan_summary {
    uint32_t added, removed, restarted, failed, total;
    int error; /* errno: the scan directory could not be read, nothing changed */
};
void sup_scan(bool initial);
struct scan_summary sup_reload(void);
void sup_release_removed(void);

#endif
