/* stress/bench/bench_json.c - JSON for `tally bench`, on json-c.
 *
 * Owns: the few helpers that json-c leaves to its callers (see bench.h): parsing with an error
 * message and from the middle of a program's output, lookups with defaults and dotted paths,
 * whole numbers kept as integers, and writing results.json with null in place of NaN and
 * infinities.  Parsing, escaping, storage and formatting are json-c's; its objects keep their
 * members in insertion order, so results.json reads in the order it was measured.
 * Single-threaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for results.json (7 levels) and any program's output; json-c's default is 32. */
#define BJ_MAX_DEPTH 256

static bj *parse_prefix(const char *text, bool whole, char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new_ex(BJ_MAX_DEPTH);
    if (!tok) {
        snprintf(err, errlen, "JSON: out of memory");
        return NULL;
    }
    size_t len = strlen(text);
    bj *v = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (e == json_tokener_continue) {
        /* the text ended inside the value (or a bare number waits for its end) */
        v = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok);
    }
    if (e != json_tokener_success) {
        snprintf(err, errlen, "JSON: %s at offset %zu", json_tokener_error_desc(e), end);
        json_object_put(v);
        json_tokener_free(tok);
        return NULL;
    }
    json_tokener_free(tok);
    if (whole) {
        while (end < len && strchr(" \t\r\n", text[end]))
            end++;
        if (end < len) {
            snprintf(err, errlen, "JSON: trailing characters at offset %zu", end);
            json_object_put(v);
            return NULL;
        }
    }
    return v;
}

bj *bj_parse(const char *text, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    return parse_prefix(text, true, err, errlen);
}

bj *bj_parse_embedded(const char *text, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    /* The first line that starts with '{' begins the object. */
    for (const char *p = text; p && *p;) {
        const char *q = p + strspn(p, " \t");
        if (*q == '{')
            return parse_prefix(q, false, err, errlen);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    snprintf(err, errlen, "no JSON object in the output");
    return NULL;
}

bj *bj_num(double x)
{
    if (isfinite(x) && x == floor(x) && fabs(x) < 1e15)
        return json_object_new_int64((int64_t)x);
    return json_object_new_double(x);
}

bj *bj_strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    bj *v = bj_str(s ? s : "");
    free(s);
    return v;
}

static void out_of_memory(void)
{
    fprintf(stderr, "tally bench: out of memory\n");
    exit(1);
}

bj *bj_push(bj *arr, bj *v)
{
    if (json_object_array_add(arr, v) != 0)
        out_of_memory();
    return v;
}

bj *bj_set(bj *obj, const char *key, bj *v)
{
    if (json_object_object_add(obj, key, v) != 0)
        out_of_memory();
    return v;
}

bj *bj_clone(const bj *v)
{
    bj *c = NULL;
    if (v && json_object_deep_copy((bj *)v, &c, NULL) != 0)
        out_of_memory();
    return c;
}

bj *bj_get(const bj *obj, const char *key)
{
    bj *v = NULL;
    return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

bj *bj_path(const bj *obj, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const bj *cur = obj;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
        cur = bj_get(cur, tok);
    return (bj *)cur;
}

bool bj_is_num(const bj *v)
{
    return json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int);
}

double bj_numval(const bj *v)
{
    if (bj_is_num(v))
        return json_object_get_double(v);
    if (bj_is_bool(v))
        return json_object_get_boolean(v) ? 1 : 0;
    return NAN;
}

double bj_getnum(const bj *obj, const char *key, double dflt)
{
    bj *v = bj_get(obj, key);
    return bj_is_num(v) || bj_is_bool(v) ? bj_numval(v) : dflt;
}

const char *bj_getstr(const bj *obj, const char *key, const char *dflt)
{
    bj *v = bj_get(obj, key);
    return bj_is_str(v) ? json_object_get_string(v) : dflt;
}

/* ---- writing -------------------------------------------------------------------------------- */
static int write_null(bj *v, struct printbuf *pb, int level, int flags)
{
    (void)v, (void)level, (void)flags;
    return printbuf_strappend(pb, "null");
}

/* json-c prints NaN and Infinity, which JSON does not have: those numbers are written null. */
static void nonfinite_as_null(bj *v)
{
    if (json_object_is_type(v, json_type_double) && !isfinite(json_object_get_double(v)))
        json_object_set_serializer(v, write_null, NULL, NULL);
    for (size_t i = 0; i < bj_len(v); i++)
        nonfinite_as_null(bj_at(v, i));
    BJ_EACH(v, e)
        nonfinite_as_null(BJ_VAL(e));
}

int bj_write_file(const char *path, bj *v)
{
    /* 9 significant digits: every measured figure, without the 17-digit noise of a double */
    json_c_set_serialization_double_format("%.9g", JSON_C_OPTION_GLOBAL);
    nonfinite_as_null(v);
    return json_object_to_file_ext(path, v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                   JSON_C_TO_STRING_NOSLASHESCAPE);
}

bj *bj_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0;
    /* the whole file as one string: getdelim with a NUL delimiter reads to the end */
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    bool failed = ferror(f);
    fclose(f);
    if (n < 0 || failed) {
        snprintf(err, errlen, "%s: %s", path, n < 0 && !failed ? "empty file" : strerror(errno));
        free(buf);
        return NULL;
    }
    char perr[200];
    bj *v = bj_parse(buf, perr, sizeof perr);
    if (!v)
        snprintf(err, errlen, "%s: %s", path, perr);
    free(buf);
    return v;
}
