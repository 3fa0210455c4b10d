/* json.h — the one JSON string writer the CLIs share (defined in cli.c). */
#ifndef BAY0_JSON_H
#define BAY0_JSON_H

/* Writes s to stdout as a JSON string literal (quotes, escapes). */
void cli_json_str(const char *s);

#endif
