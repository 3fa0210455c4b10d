/* init.h — PID 1: early boot, /persist, modules, then the supervisor, then
 * the final shutdown sequence. */
#ifndef BAY0_INIT_H
#define BAY0_INIT_H

/* Entry point for PID 1 and for `bay0 init`. Never returns as PID 1. */
int init_main(int argc, char **argv);

#endif
