/* secret_file: read a webhook secret from a file (root:tocsin 0640 is right);
 * paths relative to the config file that names them. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tocsin/log.h"

/* A secret is a key, not a document: anything bigger is the wrong file. */
#define SECRET_MAX 65536

char *cfg_file_path(const struct cnode *node)
{
    char *path;

    if (node->value[0] == '/' || !node->file->dir)
        return strdup(node->value);
    if (asprintf(&path, "%s/%s", node->file->dir, node->value) < 0)
        return NULL;
    return path;
}

/* Reads at most SECRET_MAX + 1 bytes so an oversized file is detected. */
static ssize_t read_all(int fd, char *buf, size_t size)
{
    size_t len = 0;
    ssize_t n;

    while (len < size) {
        n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

static int check_and_store(struct cfg_log *log, const struct cnode *node, char *buf, size_t len,
                           char **out)
{
    if (len > SECRET_MAX) {
        cfg_error_at(log, node, "secret_file \"%s\" is larger than 64 KiB", cnode_shown(node));
        return 0;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len == 0 || memchr(buf, '\0', len)) {
        cfg_error_at(log, node, "secret_file \"%s\" is empty or contains a NUL byte",
                     cnode_shown(node));
        return 0;
    }
    buf[len] = '\0';
    free(*out);
    *out = strndup(buf, len);
    return *out ? 0 : -ENOMEM;
}

int cfg_read_secret(struct cfg_log *log, const struct cnode *node, char **out)
{
    char *path = cfg_file_path(node), *buf = NULL;
    struct stat st;
    ssize_t len = 0;
    int fd = -1, rc = -ENOMEM, err = 0;

    if (!path || !(buf = malloc(SECRET_MAX + 2)))
        goto out;
    rc = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        err = errno;
    else if ((len = read_all(fd, buf, SECRET_MAX + 1)) < 0)
        err = (int)-len;
    if (err) {
        cfg_error_at(log, node, "cannot read secret_file \"%s\": %s", cnode_shown(node),
                     strerror(err));
        goto out;
    }
    if (st.st_mode & S_IROTH)
        tocsin_warn("secret file is world-readable", "path",
                    node->sensitive ? "<redacted>" : path);
    rc = check_and_store(log, node, buf, (size_t)len, out);
out:
    if (buf)
        explicit_bzero(buf, SECRET_MAX + 2);
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return rc;
}
