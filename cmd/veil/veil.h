/* veil CLI verbs (one file per noun). */
#ifndef VEIL_CLI_H
#define VEIL_CLI_H

#include "veil/kbs.h"

int cmd_attest (int argc, char **argv, veil_error_t **err);
int cmd_image (int argc, char **argv, veil_error_t **err);

#endif
