/* veil-trustee command verbs (one file per noun). */
#ifndef VEIL_TRUSTEE_CMD_H
#define VEIL_TRUSTEE_CMD_H

#include "veil/kbs.h"

int cmd_serve (int argc, char **argv, veil_error_t **err);
int cmd_sim_ca (int argc, char **argv, veil_error_t **err);
int cmd_verify (int argc, char **argv, veil_error_t **err);
int cmd_admin (int argc, char **argv, veil_error_t **err);

/* Reads a whole file or "-" for stdin, bounded. */
int read_input (const char *path, size_t max, uint8_t **out, size_t *len, veil_error_t **err);

#endif
