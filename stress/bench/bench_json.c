/* stress/bench/bench_json.c - a small JSON document model for `tally bench`.
 *
 * Owns: parsing (RFC 8259, plus NaN/Infinity, which Google Benchmark may print), building and
 * writing JSON values.  Objects keep their keys in insertion order so results.json reads in the
 * order it was measured.  Single-threaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "tally bench: out of memory\n");
        exit(1);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static bj *bj_new(bj_type t)
{
    bj *v = xrealloc(NULL, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

bj *bj_null(void) { return bj_new(BJ_NULL); }
bj *bj_bool(bool b)
{
    bj *v = bj_new(BJ_BOOL);
    v->b = b;
    return v;
}
bj *bj_num(double x)
{
    bj *v = bj_new(BJ_NUM);
    v->num = x;
    return v;
}
bj *bj_str(const char *s)
{
    bj *v = bj_new(BJ_STR);
    v->str = xstrdup(s ? s : "");
    return v;
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
bj *bj_arr(void) { return bj_new(BJ_ARR); }
bj *bj_obj(void) { return bj_new(BJ_OBJ); }

static void bj_grow(bj *c)
{
    if (c->n < c->cap)
        return;
    c->cap = c->cap ? c->cap * 2 : 8;
    c->items = xrealloc(c->items, c->cap * sizeof *c->items);
    if (c->type == BJ_OBJ)
        c->keys = xrealloc(c->keys, c->cap * sizeof *c->keys);
}

bj *bj_push(bj *arr, bj *v)
{
    bj_grow(arr);
    arr->items[arr->n++] = v;
    return v;
}

bj *bj_set(bj *obj, const char *key, bj *v)
{
    for (size_t i = 0; i < obj->n; i++) {
        if (strcmp(obj->keys[i], key) == 0) {
            bj_free(obj->items[i]);
            obj->items[i] = v;
            return v;
        }
    }
    bj_grow(obj);
    obj->keys[obj->n] = xstrdup(key);
    obj->items[obj->n++] = v;
    return v;
}

void bj_free(bj *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        bj_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

bj *bj_clone(const bj *v)
{
    if (!v)
        return bj_null();
    bj *c = bj_new(v->type);
    c->b = v->b;
    c->num = v->num;
    if (v->str)
        c->str = xstrdup(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->type == BJ_OBJ)
            bj_set(c, v->keys[i], bj_clone(v->items[i]));
        else
            bj_push(c, bj_clone(v->items[i]));
    }
    return c;
}

bj *bj_get(const bj *obj, const char *key)
{
    if (!obj || obj->type != BJ_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
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

bool bj_is_num(const bj *v) { return v && v->type == BJ_NUM; }

double bj_getnum(const bj *obj, const char *key, double dflt)
{
    bj *v = bj_get(obj, key);
    if (v && v->type == BJ_NUM)
        return v->num;
    if (v && v->type == BJ_BOOL)
        return v->b ? 1 : 0;
    return dflt;
}

const char *bj_getstr(const bj *obj, const char *key, const char *dflt)
{
    bj *v = bj_get(obj, key);
    return v && v->type == BJ_STR ? v->str : dflt;
}

/* ---- parser --------------------------------------------------------------------------- */
typedef struct {
    const char *s;
    const char *p;
    char *err;
    size_t errlen;
    int depth;
} bj_parser;

static bj *parse_value(bj_parser *ps);

static void skip_ws(bj_parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static bj *fail(bj_parser *ps, const char *what)
{
    if (ps->err && !ps->err[0])
        snprintf(ps->err, ps->errlen, "JSON: %s at offset %ld", what, (long)(ps->p - ps->s));
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void put_utf8(char **buf, size_t *len, size_t *cap, unsigned cp)
{
    char tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xC0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xE0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (char)(0xF0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, tmp, n);
    *len += n;
}

static char *parse_string_raw(bj_parser *ps)
{
    if (*ps->p != '"')
        return (char *)fail(ps, "expected a string");
    ps->p++;
    size_t len = 0, cap = 32;
    char *buf = xrealloc(NULL, cap);
    for (;;) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == 0) {
            free(buf);
            return (char *)fail(ps, "unterminated string");
        }
        ps->p++;
        if (c == '"')
            break;
        if (c != '\\') { /* raw byte (UTF-8 sequences pass through unchanged) */
            if (len + 2 > cap)
                buf = xrealloc(buf, cap *= 2);
            buf[len++] = (char)c;
            continue;
        }
        char e = *ps->p++;
        unsigned cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            cp = 0;
            for (int i = 0; i < 4; i++) {
                int h = hexval(ps->p[i]);
                if (h < 0) {
                    free(buf);
                    return (char *)fail(ps, "bad \\u escape");
                }
                cp = cp * 16 + (unsigned)h;
            }
            ps->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo = 0;
                int ok = 1;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(ps->p[2 + i]);
                    if (h < 0)
                        ok = 0;
                    lo = lo * 16 + (unsigned)(h < 0 ? 0 : h);
                }
                if (ok && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    ps->p += 6;
                }
            }
            break;
        }
        default:
            free(buf);
            return (char *)fail(ps, "bad escape");
        }
        put_utf8(&buf, &len, &cap, cp);
    }
    buf[len] = 0;
    return buf;
}

static bj *parse_number(bj_parser *ps)
{
    static const struct { const char *word; double val; } words[] = {
        {"NaN", NAN}, {"nan", NAN}, {"-nan", NAN}, {"Infinity", INFINITY}, {"inf", INFINITY},
        {"-Infinity", -INFINITY}, {"-inf", -INFINITY},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if (strncmp(ps->p, words[i].word, n) == 0) {
            ps->p += n;
            return bj_num(words[i].val);
        }
    }
    char *end;
    errno = 0;
    double x = strtod(ps->p, &end);
    if (end == ps->p)
        return fail(ps, "unexpected character");
    ps->p = end;
    return bj_num(x);
}

static bj *parse_container(bj_parser *ps, bool is_obj)
{
    if (++ps->depth > 200)
        return fail(ps, "nested too deeply");
    bj *c = is_obj ? bj_obj() : bj_arr();
    char close = is_obj ? '}' : ']';
    ps->p++;
    skip_ws(ps);
    if (*ps->p == close) {
        ps->p++;
        ps->depth--;
        return c;
    }
    for (;;) {
        skip_ws(ps);
        char *key = NULL;
        if (is_obj) {
            key = parse_string_raw(ps);
            if (!key)
                goto bad;
            skip_ws(ps);
            if (*ps->p != ':') {
                free(key);
                fail(ps, "expected ':'");
                goto bad;
            }
            ps->p++;
        }
        bj *v = parse_value(ps);
        if (!v) {
            free(key);
            goto bad;
        }
        if (is_obj) {
            bj_set(c, key, v);
            free(key);
        } else {
            bj_push(c, v);
        }
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        fail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        goto bad;
    }
    ps->depth--;
    return c;
bad:
    bj_free(c);
    return NULL;
}

static bj *parse_value(bj_parser *ps)
{
    skip_ws(ps);
    switch (*ps->p) {
    case '{': return parse_container(ps, true);
    case '[': return parse_container(ps, false);
    case '"': {
        char *s = parse_string_raw(ps);
        if (!s)
            return NULL;
        bj *v = bj_new(BJ_STR);
        v->str = s;
        return v;
    }
    case 't':
        if (strncmp(ps->p, "true", 4) == 0) {
            ps->p += 4;
            return bj_bool(true);
        }
        break;
    case 'f':
        if (strncmp(ps->p, "false", 5) == 0) {
            ps->p += 5;
            return bj_bool(false);
        }
        break;
    case 'n':
        if (strncmp(ps->p, "null", 4) == 0) {
            ps->p += 4;
            return bj_null();
        }
        break;
    case 0:
        return fail(ps, "unexpected end of input");
    default:
        break;
    }
    return parse_number(ps);
}

bj *bj_parse(const char *text, char *err, size_t errlen)
{
    bj_parser ps = {text, text, err, errlen, 0};
    if (err && errlen)
        err[0] = 0;
    bj *v = parse_value(&ps);
    if (!v)
        return NULL;
    skip_ws(&ps);
    if (*ps.p) {
        bj_free(v);
        return fail(&ps, "trailing characters");
    }
    return v;
}

bj *bj_parse_embedded(const char *text, char *err, size_t errlen)
{
    /* The first line that starts with '{' begins the object. */
    const char *p = text;
    while (p && *p) {
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '{') {
            bj_parser ps = {q, q, err, errlen, 0};
            if (err && errlen)
                err[0] = 0;
            return parse_value(&ps);
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (err)
        snprintf(err, errlen, "no JSON object in the output");
    return NULL;
}

/* ---- writer --------------------------------------------------------------------------- */
static void write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void write_indent(FILE *f, int indent, int level)
{
    if (indent <= 0)
        return;
    fputc('\n', f);
    for (int i = 0; i < indent * level; i++)
        fputc(' ', f);
}

static bool is_flat(const bj *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->type == BJ_ARR || v->items[i]->type == BJ_OBJ)
            return false;
    return true;
}

static void write_value(FILE *f, const bj *v, int indent, int level)
{
    switch (v->type) {
    case BJ_NULL: fputs("null", f); break;
    case BJ_BOOL: fputs(v->b ? "true" : "false", f); break;
    case BJ_NUM:
        if (!isfinite(v->num))
            fputs("null", f); /* JSON has no NaN/Infinity */
        else if (v->num == (double)(int64_t)v->num && fabs(v->num) < 1e15)
            fprintf(f, "%lld", (long long)v->num);
        else
            fprintf(f, "%.6g", v->num);
        break;
    case BJ_STR: write_string(f, v->str); break;
    case BJ_ARR:
    case BJ_OBJ: {
        bool obj = v->type == BJ_OBJ;
        /* Arrays of scalars, and small objects of scalars ({median, min, max, n}), stay on one line. */
        int ind = (is_flat(v) && (!obj || v->n <= 8)) ? 0 : indent;
        fputc(obj ? '{' : '[', f);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                fputs(ind > 0 ? "," : ", ", f);
            write_indent(f, ind, level + 1);
            if (obj) {
                write_string(f, v->keys[i]);
                fputs(": ", f);
            }
            write_value(f, v->items[i], indent, level + 1);
        }
        if (v->n)
            write_indent(f, ind, level);
        fputc(obj ? '}' : ']', f);
        break;
    }
    }
}

void bj_write(FILE *f, const bj *v, int indent) { write_value(f, v, indent, 0); }

int bj_write_file(const char *path, const bj *v)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    bj_write(f, v, 2);
    fputc('\n', f);
    return fclose(f) == 0 ? 0 : -1;
}

bj *bj_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 1 << 16;
    char *buf = xrealloc(NULL, cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2)
            buf = xrealloc(buf, cap *= 2);
    }
    fclose(f);
    buf[len] = 0;
    bj *v = bj_parse(buf, err, errlen);
    free(buf);
    return v;
}
