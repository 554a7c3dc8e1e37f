/* interp/lexer.c - source text to tokens.
 *
 * Owns: Python's lexical rules for the subset: INDENT/DEDENT from a stack of indentation
 * widths (tabs to the next multiple of 8), NEWLINE only outside brackets, backslash
 * continuations, comments, names, int literals (decimal, hex, octal, binary, underscores; 64-bit),
 * floats with exponents, string literals in every quote style with their escapes (\uXXXX
 * written as UTF-8), raw strings, and f-strings (returned undecoded as T_FSTRING; the parser
 * splits their fields).  Errors carry line and column.
 */
#include "interp.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void lexer_init(lexer *lx, const char *src, const char *filename, arena *ar)
{
    memset(lx, 0, sizeof *lx);
    lx->src = lx->p = lx->line_start = src;
    lx->filename = filename;
    lx->line = 1;
    lx->nindents = 1;
    lx->indents[0] = 0;
    lx->at_line_start = true;
    lx->ar = ar;
}

static int lex_error(lexer *lx, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_error(lexer *lx, const char *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->errmsg, sizeof lx->errmsg, fmt, ap);
    va_end(ap);
    lx->error = true;
    lx->errline = lx->line;
    lx->errcol = (int)(at - lx->line_start) + 1;
    return -1;
}

static bool is_name_start(unsigned char c) { return c == '_' || (unsigned)((c | 32) - 'a') < 26u || c >= 0x80; }
static bool is_name_char(unsigned char c) { return is_name_start(c) || (unsigned)(c - '0') < 10u; }

static void put_utf8(sbuf *b, uint32_t cp)
{
    if (cp < 0x80) {
        sb_putc(b, (char)cp);
    } else if (cp < 0x800) {
        sb_putc(b, (char)(0xC0 | (cp >> 6)));
        sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sb_putc(b, (char)(0xE0 | (cp >> 12)));
        sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        sb_putc(b, (char)(0xF0 | (cp >> 18)));
        sb_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if ((c | 32) >= 'a' && (c | 32) <= 'f') return (c | 32) - 'a' + 10;
    return -1;
}

/* Decode the escapes of s[0..n) into b (not raw).  Returns 0, or -1 with *bad at the offender. */
static int decode_escapes(sbuf *b, const char *s, size_t n, const char **bad, const char **why)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) {
            sb_putc(b, c);
            continue;
        }
        char e = s[++i];
        switch (e) {
        case '\n': break;
        case '\\': sb_putc(b, '\\'); break;
        case '\'': sb_putc(b, '\''); break;
        case '"': sb_putc(b, '"'); break;
        case 'a': sb_putc(b, '\a'); break;
        case 'b': sb_putc(b, '\b'); break;
        case 'f': sb_putc(b, '\f'); break;
        case 'n': sb_putc(b, '\n'); break;
        case 'r': sb_putc(b, '\r'); break;
        case 't': sb_putc(b, '\t'); break;
        case 'v': sb_putc(b, '\v'); break;
        case 'x': case 'u': case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int k = 0; k < digits; k++) {
                int h = i + 1 + (size_t)k < n ? hexval(s[i + 1 + k]) : -1;
                if (h < 0) {
                    *bad = s + i - 1;
                    *why = e == 'x' ? "truncated \\xXX escape" : e == 'u' ? "truncated \\uXXXX escape"
                                                                        : "truncated \\UXXXXXXXX escape";
                    return -1;
                }
                v = v * 16 + (uint32_t)h;
            }
            i += (size_t)digits;
            if (v > 0x10FFFF) {
                *bad = s + i;
                *why = "illegal Unicode character";
                return -1;
            }
            if (v == 0) {
                *bad = s + i;
                *why = "NUL characters in strings are not supported by this interpreter";
                return -1;
            }
            put_utf8(b, v);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                uint32_t v = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                    v = v * 8 + (uint32_t)(s[++i] - '0');
                if (v == 0) {
                    *bad = s + i;
                    *why = "NUL characters in strings are not supported by this interpreter";
                    return -1;
                }
                put_utf8(b, v);
            } else {
                sb_putc(b, '\\');
                sb_putc(b, e);
            }
        }
    }
    return 0;
}

static int read_string(lexer *lx, token *t, const char *start, const char *q, bool raw, bool fstr)
{
    char quote = *q;
    bool triple = q[1] == quote && q[2] == quote;
    const char *p = q + (triple ? 3 : 1);
    const char *body = p;
    int line0 = lx->line;
    const char *ls0 = lx->line_start;
    for (;;) {
        if (!*p) {
            lx->line = line0;
            lx->line_start = ls0;
            return lex_error(lx, start, triple ? "unterminated triple-quoted string literal (detected at line %d)"
                                               : "unterminated string literal (detected at line %d)", line0);
        }
        if (*p == '\\' && p[1]) {
            if (p[1] == '\n') {
                lx->line++;
                lx->line_start = p + 2;
            }
            p += 2;
            continue;
        }
        if (*p == '\n') {
            if (!triple) {
                lx->line = line0;
                lx->line_start = ls0;
                return lex_error(lx, start, "unterminated string literal (detected at line %d)", line0);
            }
            lx->line++;
            lx->line_start = p + 1;
        }
        if (*p == quote && (!triple || (p[1] == quote && p[2] == quote)))
            break;
        p++;
    }
    size_t n = (size_t)(p - body);
    lx->p = p + (triple ? 3 : 1);
    t->kind = fstr ? T_FSTRING : T_STRING;
    sbuf b;
    sb_init(&b);
    if (raw || fstr) {
        sb_putn(&b, body, n);
    } else {
        const char *bad = NULL, *why = NULL;
        if (decode_escapes(&b, body, n, &bad, &why) < 0) {
            sb_free(&b);
            return lex_error(lx, bad, "(unicode error) %s", why);
        }
    }
    if (b.oom) {
        sb_free(&b);
        return lex_error(lx, start, "out of memory");
    }
    t->sval = arena_alloc(lx->ar, b.len + 1);
    if (!t->sval) {
        sb_free(&b);
        return lex_error(lx, start, "out of memory");
    }
    if (b.len)
        memcpy(t->sval, b.data, b.len);
    t->slen = b.len;
    t->ival = raw;   /* f-strings: whether the literal parts are raw */
    sb_free(&b);
    if (memchr(t->sval, 0, t->slen))
        return lex_error(lx, start, "NUL characters in strings are not supported by this interpreter");
    return 0;
}

/* decode an f-string literal piece (escapes, {{ and }}) */
int lexer_decode_piece(const char *s, size_t n, bool raw, sbuf *out, const char **bad, const char **why);
int lexer_decode_piece(const char *s, size_t n, bool raw, sbuf *out, const char **bad, const char **why)
{
    if (raw) {
        sb_putn(out, s, n);
        return 0;
    }
    return decode_escapes(out, s, n, bad, why);
}

static int read_number(lexer *lx, token *t, const char *start)
{
    const char *p = start;
    char buf[128];
    size_t k = 0;
    if (p[0] == '0' && (p[1] | 32) != '.' && strchr("xXoObB", p[1]) && p[1]) {
        int base = (p[1] | 32) == 'x' ? 16 : (p[1] | 32) == 'o' ? 8 : 2;
        p += 2;
        uint64_t v = 0;
        bool any = false;
        for (;; p++) {
            if (*p == '_' && hexval(p[1]) >= 0 && hexval(p[1]) < base) continue;
            int h = hexval(*p);
            if (h < 0 || h >= base) break;
            if (v > (UINT64_MAX - (uint64_t)h) / (uint64_t)base || v * (uint64_t)base + (uint64_t)h > (uint64_t)INT64_MAX)
                return lex_error(lx, start, "integer literal too large (this interpreter's ints are 64-bit)");
            v = v * (uint64_t)base + (uint64_t)h;
            any = true;
        }
        if (!any || is_name_char((unsigned char)*p))
            return lex_error(lx, start, "invalid %s literal", base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary");
        t->kind = T_INT;
        t->ival = (int64_t)v;
        lx->p = p;
        return 0;
    }
    bool is_float = false;
    while ((*p >= '0' && *p <= '9') || (*p == '_' && p[1] >= '0' && p[1] <= '9' && p > start)) {
        if (*p != '_' && k < sizeof buf - 1) buf[k++] = *p;
        p++;
    }
    if (*p == '.' && !(p[1] == '.')) {
        is_float = true;
        if (k < sizeof buf - 1) buf[k++] = *p;
        p++;
        while ((*p >= '0' && *p <= '9') || (*p == '_' && p[1] >= '0' && p[1] <= '9')) {
            if (*p != '_' && k < sizeof buf - 1) buf[k++] = *p;
            p++;
        }
    }
    if ((*p | 32) == 'e' && ((p[1] >= '0' && p[1] <= '9') || ((p[1] == '+' || p[1] == '-') && p[2] >= '0' && p[2] <= '9'))) {
        is_float = true;
        buf[k++] = 'e';
        p++;
        if (*p == '+' || *p == '-') buf[k++] = *p++;
        while ((*p >= '0' && *p <= '9') || (*p == '_' && p[1] >= '0' && p[1] <= '9')) {
            if (*p != '_' && k < sizeof buf - 1) buf[k++] = *p;
            p++;
        }
    }
    if ((*p | 32) == 'j')
        return lex_error(lx, start, "complex numbers are not supported by this interpreter");
    if (is_name_char((unsigned char)*p))
        return lex_error(lx, start, "invalid decimal literal");
    buf[k] = 0;
    lx->p = p;
    if (is_float) {
        t->kind = T_FLOAT;
        t->fval = strtod(buf, NULL);
        return 0;
    }
    if (k > 1 && buf[0] == '0') {
        for (size_t i = 0; i < k; i++)
            if (buf[i] != '0')
                return lex_error(lx, start, "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers");
    }
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (errno || v > (unsigned long long)INT64_MAX)
        return lex_error(lx, start, "integer literal too large (this interpreter's ints are 64-bit)");
    t->kind = T_INT;
    t->ival = (int64_t)v;
    return 0;
}

static const struct { const char *s; int op; } ops[] = {
    {"**=", OPT_DSTAREQ}, {"//=", OPT_DSLASHEQ}, {">>=", OPT_RSHIFTEQ}, {"<<=", OPT_LSHIFTEQ},
    {"->", OPT_ARROW}, {"**", OPT_DSTAR}, {"//", OPT_DSLASH}, {"<<", OPT_LSHIFT}, {">>", OPT_RSHIFT},
    {"<=", OPT_LE}, {">=", OPT_GE}, {"==", OPT_EQ}, {"!=", OPT_NE}, {"+=", OPT_PLUSEQ},
    {"-=", OPT_MINUSEQ}, {"*=", OPT_STAREQ}, {"/=", OPT_SLASHEQ}, {"%=", OPT_PERCENTEQ},
    {"&=", OPT_AMPEQ}, {"|=", OPT_PIPEEQ}, {"^=", OPT_CARETEQ}, {"@=", OPT_ATEQ}, {":=", OPT_WALRUS},
    {"(", OPT_LPAR}, {")", OPT_RPAR}, {"[", OPT_LSQB}, {"]", OPT_RSQB}, {"{", OPT_LBRACE},
    {"}", OPT_RBRACE}, {":", OPT_COLON}, {",", OPT_COMMA}, {";", OPT_SEMI}, {".", OPT_DOT},
    {"=", OPT_ASSIGN}, {"+", OPT_PLUS}, {"-", OPT_MINUS}, {"*", OPT_STAR}, {"/", OPT_SLASH},
    {"%", OPT_PERCENT}, {"@", OPT_AT}, {"&", OPT_AMP}, {"|", OPT_PIPE}, {"^", OPT_CARET},
    {"~", OPT_TILDE}, {"<", OPT_LT}, {">", OPT_GT},
};

static int lexer_next_raw(lexer *lx, token *t)
{
    memset(t, 0, sizeof *t);
    if (lx->error)
        return -1;
again:
    if (lx->pending_dedents > 0) {
        lx->pending_dedents--;
        t->kind = T_DEDENT;
        t->line = lx->line;
        t->col = 1;
        t->start = lx->p;
        return 0;
    }
    if (lx->at_line_start && lx->paren == 0) {
        /* measure indentation; skip blank and comment-only lines */
        for (;;) {
            const char *p = lx->p;
            int width = 0;
            while (*p == ' ' || *p == '\t' || *p == '\f') {
                if (*p == '\t') width = (width / 8 + 1) * 8;
                else if (*p == ' ') width++;
                else width = 0;
                p++;
            }
            if (*p == '#') {
                while (*p && *p != '\n') p++;
            }
            if (*p == '\r' && p[1] == '\n') p++;
            if (*p == '\n') {
                lx->p = p + 1;
                lx->line++;
                lx->line_start = lx->p;
                continue;
            }
            if (*p == '\\' && p[1] == '\n') {   /* continuation of an empty prefix */
                lx->p = p + 2;
                lx->line++;
                lx->line_start = lx->p;
                continue;
            }
            lx->p = p;
            lx->at_line_start = false;
            if (!*p) {
                width = 0;
            }
            int cur = lx->indents[lx->nindents - 1];
            if (width > cur) {
                if (lx->nindents >= (int)(sizeof lx->indents / sizeof lx->indents[0]))
                    return lex_error(lx, p, "too many levels of indentation");
                lx->indents[lx->nindents++] = width;
                t->kind = T_INDENT;
                t->line = lx->line;
                t->col = 1;
                t->start = p;
                return 0;
            }
            if (width < cur) {
                int n = 0;
                while (lx->nindents > 1 && lx->indents[lx->nindents - 1] > width) {
                    lx->nindents--;
                    n++;
                }
                if (lx->indents[lx->nindents - 1] != width)
                    return lex_error(lx, p, "unindent does not match any outer indentation level");
                lx->pending_dedents = n;
                goto again;
            }
            break;
        }
    }
    const char *p = lx->p;
    while (*p == ' ' || *p == '\t' || *p == '\f' || *p == '\r') p++;
    if (*p == '#') {
        while (*p && *p != '\n') p++;
    }
    if (*p == '\\') {
        if (p[1] == '\n' || (p[1] == '\r' && p[2] == '\n')) {
            p += p[1] == '\n' ? 2 : 3;
            lx->line++;
            lx->line_start = p;
            lx->p = p;
            goto again;
        }
        if (!p[1]) {
            lx->p = p;
            return lex_error(lx, p + 1, "unexpected EOF while parsing");
        }
        return lex_error(lx, p + 1, "unexpected character after line continuation character");
    }
    t->line = lx->line;
    t->col = (int)(p - lx->line_start) + 1;
    t->start = p;
    if (*p == '\n') {
        lx->p = p + 1;
        lx->line++;
        lx->line_start = lx->p;
        if (lx->paren > 0)
            goto again;
        lx->at_line_start = true;
        t->kind = T_NEWLINE;
        t->len = 1;
        return 0;
    }
    if (!*p) {
        lx->p = p;
        if (lx->paren > 0)
            return lex_error(lx, p, "unexpected EOF while parsing");
        if (lx->nindents > 1) {
            lx->nindents--;
            t->kind = T_DEDENT;
            return 0;
        }
        t->kind = T_EOF;
        return 0;
    }
    unsigned char c = (unsigned char)*p;
    if (is_name_start(c)) {
        const char *q = p;
        while (is_name_char((unsigned char)*q)) q++;
        size_t n = (size_t)(q - p);
        /* string prefixes */
        if (n <= 2 && (*q == '\'' || *q == '"')) {
            bool raw = false, fstr = false, ok = true;
            for (size_t i = 0; i < n; i++) {
                char pc = (char)(p[i] | 32);
                if (pc == 'r') raw = true;
                else if (pc == 'f') fstr = true;
                else if (pc == 'u' && n == 1) {}
                else if (pc == 'b') return lex_error(lx, p, "bytes literals are not supported by this interpreter");
                else ok = false;
            }
            if (ok)
                return read_string(lx, t, p, q, raw, fstr);
        }
        t->kind = T_NAME;
        t->len = n;
        lx->p = q;
        return 0;
    }
    if ((c >= '0' && c <= '9') || (c == '.' && p[1] >= '0' && p[1] <= '9'))
        return read_number(lx, t, p);
    if (c == '\'' || c == '"')
        return read_string(lx, t, p, p, false, false);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].s);
        if (strncmp(p, ops[i].s, n) == 0) {
            t->kind = T_OP;
            t->op = ops[i].op;
            t->len = n;
            lx->p = p + n;
            if (t->op == OPT_LPAR || t->op == OPT_LSQB || t->op == OPT_LBRACE) {
                if (lx->paren >= PY_MAX_NEST)
                    return lex_error(lx, p, "too many nested parentheses");
                lx->paren++;
            } else if (t->op == OPT_RPAR || t->op == OPT_RSQB || t->op == OPT_RBRACE) {
                if (lx->paren > 0)
                    lx->paren--;
            }
            return 0;
        }
    }
    if (c == '!' )
        return lex_error(lx, p, "invalid syntax");
    if (c == '$' || c == '?' || c == '`')
        return lex_error(lx, p, "invalid syntax");
    return lex_error(lx, p, "invalid character '%c' (U+%04X)", c >= 32 && c < 127 ? c : '?', c);
}

int lexer_next(lexer *lx, token *t)
{
    if (!lx->error && lx->need_newline && lx->paren == 0 && lx->pending_dedents == 0) {
        const char *p = lx->p;
        while (*p == ' ' || *p == '\t' || *p == '\f' || *p == '\r') p++;
        if (*p == '#')
            while (*p && *p != '\n') p++;
        if (!*p) {
            memset(t, 0, sizeof *t);
            lx->p = p;
            t->kind = T_NEWLINE;
            t->line = lx->line;
            t->col = (int)(p - lx->line_start) + 1;
            t->start = p;
            lx->need_newline = false;
            lx->at_line_start = true;
            return 0;
        }
    }
    int r = lexer_next_raw(lx, t);
    if (r == 0)
        lx->need_newline = !(t->kind == T_NEWLINE || t->kind == T_INDENT || t->kind == T_DEDENT || t->kind == T_EOF);
    return r;
}
