/* Private to src/config: reading webhook secret_file, resolving file paths. */
#ifndef TOCSIN_CONFIG_SECRET_H
#define TOCSIN_CONFIG_SECRET_H

#include "tree.h"

/* Reads the secret named by the scalar NODE (relative paths are taken from the
 * directory of the file NODE is in) into *OUT, trimming one trailing newline.
 * Problems are reported into LOG; returns -ENOMEM only on allocation failure. */
int cfg_read_secret(struct cfg_log *log, const struct cnode *node, char **out);

/* The path in the scalar NODE, relative ones taken from the directory of the file
 * NODE is in (so the agent's working directory never matters); NULL on ENOMEM. */
char *cfg_file_path(const struct cnode *node);

#endif
