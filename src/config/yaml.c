/* YAML loader: libyaml events -> node tree, positions from the event marks. */
#include "tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deeper nesting than any config needs; bounds the recursion. */
#define YAML_MAX_DEPTH 32

struct yctx {
    yaml_parser_t parser;
    struct cfg_log *log;
    const struct cfg_file *file;
};

static int ynext(struct yctx *y, yaml_event_t *ev)
{
    const yaml_parser_t *p = &y->parser;

    if (yaml_parser_parse(&y->parser, ev))
        return 0;
    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    cfg_error(y->log, y->file, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
              "syntax error: %s", p->problem ? p->problem : "invalid YAML");
    return -EINVAL;
}

static int parse_node(struct yctx *y, yaml_event_t *ev, int depth, struct cnode **out);

static void report_anchor(struct yctx *y, const yaml_event_t *ev)
{
    cfg_error(y->log, y->file, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
              "anchors and aliases are not supported");
}

/* Parses the items of a sequence or the key/value pairs of a mapping until END. */
static int parse_children(struct yctx *y, struct cnode *parent, yaml_event_type_t end,
                          int depth)
{
    struct cnode *key = NULL, *val = NULL;
    yaml_event_t ev;
    long first;
    int rc;

    for (;;) {
        if ((rc = ynext(y, &ev)) < 0)
            break; /* a key read before the error is freed below */
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return 0;
        }
        rc = parse_node(y, &ev, depth + 1, parent->kind == CNODE_MAP && !key ? &key : &val);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
        if (parent->kind == CNODE_SEQ) {
            if ((rc = cnode_append(parent, val)) < 0)
                break;
            val = NULL;
            continue;
        }
        if (!val)
            continue; /* got the key, now the value */
        if (key->kind != CNODE_SCALAR) {
            cfg_error_at(y->log, key, "mapping keys must be scalars");
        } else if ((first = cnode_find(parent, key->value)) >= 0) {
            const struct cnode *k = parent->keys[first];

            cfg_error_at(y->log, key, "duplicate key \"%s\" (first defined at %s:%d:%d)",
                         key->value, k->file->name, k->line, k->col);
        } else if ((rc = cnode_put(parent, key, val)) < 0) {
            break;
        } else {
            key = val = NULL;
            continue;
        }
        cnode_free(key);
        cnode_free(val);
        key = val = NULL;
    }
    cnode_free(key);
    cnode_free(val);
    return rc;
}

static int parse_node(struct yctx *y, yaml_event_t *ev, int depth, struct cnode **out)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1, rc;
    const yaml_char_t *anchor = NULL;
    struct cnode *node;

    if (depth > YAML_MAX_DEPTH) {
        cfg_error(y->log, y->file, line, col, "nesting is too deep");
        return -EINVAL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        /* "\0" in double quotes: the model holds C strings, which would cut it. */
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
            cfg_error(y->log, y->file, line, col, "NUL bytes are not supported in values");
        node = cnode_scalar(y->file, line, col, (const char *)ev->data.scalar.value,
                            ev->data.scalar.length);
        break;
    case YAML_ALIAS_EVENT:
        /* Reported, then stands in as an empty scalar so parsing goes on. */
        report_anchor(y, ev);
        node = cnode_scalar(y->file, line, col, "", 0);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        node = cnode_new(CNODE_SEQ, y->file, line, col);
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        node = cnode_new(CNODE_MAP, y->file, line, col);
        break;
    default:
        cfg_error(y->log, y->file, line, col, "syntax error: unexpected YAML event");
        return -EINVAL;
    }
    if (!node)
        return -ENOMEM;
    if (anchor)
        report_anchor(y, ev);
    rc = 0;
    if (ev->type == YAML_SEQUENCE_START_EVENT)
        rc = parse_children(y, node, YAML_SEQUENCE_END_EVENT, depth);
    else if (ev->type == YAML_MAPPING_START_EVENT)
        rc = parse_children(y, node, YAML_MAPPING_END_EVENT, depth);
    if (rc < 0) {
        cnode_free(node);
        return rc;
    }
    *out = node;
    return 0;
}

/* Reads events up to and including one of type WANT (skipping stream/document marks). */
static int expect_event(struct yctx *y, yaml_event_type_t want, yaml_event_t *ev)
{
    int rc;

    for (;;) {
        if ((rc = ynext(y, ev)) < 0)
            return rc;
        if (ev->type == want)
            return 0;
        if (ev->type != YAML_STREAM_START_EVENT) {
            cfg_error(y->log, y->file, (int)ev->start_mark.line + 1,
                      (int)ev->start_mark.column + 1, "only one YAML document is allowed");
            yaml_event_delete(ev);
            return -EINVAL;
        }
        yaml_event_delete(ev);
    }
}

static int parse_document(struct yctx *y, struct cnode **root)
{
    yaml_event_t ev;
    int rc;

    if ((rc = ynext(y, &ev)) < 0)
        return rc;
    if (ev.type == YAML_STREAM_START_EVENT) {
        yaml_event_delete(&ev);
        if ((rc = ynext(y, &ev)) < 0)
            return rc;
    }
    if (ev.type == YAML_STREAM_END_EVENT) { /* an empty file: an empty mapping */
        yaml_event_delete(&ev);
        *root = cnode_new(CNODE_MAP, y->file, 1, 1);
        return *root ? 0 : -ENOMEM;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if ((rc = ynext(y, &ev)) < 0)
        return rc;
    rc = parse_node(y, &ev, 0, root);
    yaml_event_delete(&ev);
    if (rc < 0)
        return rc;
    if ((rc = expect_event(y, YAML_DOCUMENT_END_EVENT, &ev)) < 0)
        return rc;
    yaml_event_delete(&ev);
    if ((rc = expect_event(y, YAML_STREAM_END_EVENT, &ev)) < 0)
        return rc;
    yaml_event_delete(&ev);
    return 0;
}

int cfg_parse_yaml(struct cfg_log *log, const struct cfg_file *file, const char *buf,
                   size_t len, struct cnode **root)
{
    struct yctx y = { .log = log, .file = file };
    struct cnode *node = NULL;
    int rc;

    *root = NULL;
    if (!yaml_parser_initialize(&y.parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)buf, len);
    rc = parse_document(&y, &node);
    yaml_parser_delete(&y.parser);
    if (rc == 0 && node->kind == CNODE_SCALAR && node->value[0] == '\0') {
        /* A document holding only comments. */
        node->kind = CNODE_MAP;
        free(node->value);
        node->value = NULL;
    }
    if (rc == 0 && node->kind != CNODE_MAP) {
        cfg_error_at(log, node, "the top level must be a mapping");
        rc = -EINVAL;
    }
    if (rc < 0) {
        cnode_free(node);
        return rc == -ENOMEM ? rc : 0;
    }
    *root = node;
    return 0;
}
