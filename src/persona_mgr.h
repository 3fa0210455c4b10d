/* persona_mgr.h — the persona manager process (`bay0 persona-manager`) and
 * the persona clients (`bay0 persona ...`, `bay0 reconcile`). See
 * persona_mgr.c and cli_persona.c. Socket: RUNDIR/persona, one request per
 * connection, tab-separated fields, replies as on the control socket
 * (lines, then "OK [text]" or "ERR CODE text").
 */
#ifndef BAY0_PERSONA_MGR_H
#define BAY0_PERSONA_MGR_H

#define PERSONA_SOCKET_NAME "persona"

int persona_mgr_main(int argc, char **argv);
int cli_persona(int argc, char **argv);
int cli_reconcile(int argc, char **argv);

#endif
