/* interp/parser.c - tokens to an abstract syntax tree (recursive descent).
 *
 * Owns: the grammar of the subset (statements, expressions with Python's precedence, call
 * arguments, targets, f-string fields) and the syntax errors, reported as file:line:col and a
 * message.  Nodes live in one arena freed after compilation.  Node fields by kind are listed in
 * interp.h's node struct; the less obvious ones:
 *   N_DEF: str name, names/nnames parameters, list defaults (the last list.n parameters), list2 body
 *   N_TRY: list body, list2 handlers (N_EXCEPT: a type or NULL, str as-name, list body),
 *          list3 finally, list4 else
 *   N_FOR: a target, b iterable, list body, list2 else;  N_CLASS: str, a base, list body
 *   N_LISTCOMP, N_SETCOMP, N_GENEXP: a element, list the clauses; N_DICTCOMP: a key, b value, list
 *          the clauses; a clause is N_COMPFOR: a target, b iterable, list its conditions
 *   N_YIELD: a the value or NULL
 * Nesting is bounded (PY_MAX_NEST) so hostile input cannot overflow the C stack.
 */
#include "interp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    lexer lx;
    token tok;           /* current token */
    token peek;          /* one token of lookahead when has_peek */
    bool has_peek;
    arena *ar;
    jmp_buf fail;
    char *errmsg;
    size_t errsize;
    int *errline, *errcol;
    int depth;
    int line_off, col_off;   /* f-string expressions: position of their text */
    int oom;
} parser;

static void fail_at(parser *P, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5), noreturn));
static void fail_at(parser *P, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->errmsg, P->errsize, fmt, ap);
    va_end(ap);
    *P->errline = line + P->line_off;
    *P->errcol = col + (line == 1 ? P->col_off : 0);
    longjmp(P->fail, 1);
}

static void fail_oom(parser *P) __attribute__((noreturn));
static void fail_oom(parser *P)
{
    P->oom = 1;
    snprintf(P->errmsg, P->errsize, "out of memory");
    longjmp(P->fail, 1);
}

static void lex_fail(parser *P) __attribute__((noreturn));
static void lex_fail(parser *P)
{
    fail_at(P, P->lx.errline, P->lx.errcol, "%s", P->lx.errmsg);
}

static void advance(parser *P)
{
    if (P->has_peek) {
        P->tok = P->peek;
        P->has_peek = false;
        return;
    }
    if (lexer_next(&P->lx, &P->tok) < 0)
        lex_fail(P);
}

static token *peek_tok(parser *P)
{
    if (!P->has_peek) {
        if (lexer_next(&P->lx, &P->peek) < 0)
            lex_fail(P);
        P->has_peek = true;
    }
    return &P->peek;
}

static void *alloc(parser *P, size_t n)
{
    void *p = arena_alloc(P->ar, n);
    if (!p)
        fail_oom(P);
    return p;
}

static node *mk(parser *P, node_kind k, const token *at)
{
    node *n = alloc(P, sizeof(node));
    n->kind = k;
    n->line = at->line + P->line_off;
    n->col = at->col + (at->line == 1 ? P->col_off : 0);
    return n;
}

static void push(parser *P, nodelist *l, node *n)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        node **v = alloc(P, sizeof(node *) * (size_t)cap);
        if (l->n)
            memcpy(v, l->v, sizeof(node *) * (size_t)l->n);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
}

static char *dupn(parser *P, const char *s, size_t n)
{
    char *d = alloc(P, n + 1);
    memcpy(d, s, n);
    return d;
}

static bool is_op(parser *P, int op) { return P->tok.kind == T_OP && P->tok.op == op; }
static bool is_kw(parser *P, const char *kw)
{
    return P->tok.kind == T_NAME && P->tok.len == strlen(kw) && memcmp(P->tok.start, kw, P->tok.len) == 0;
}
static bool tok_is_kw(const token *t, const char *kw)
{
    return t->kind == T_NAME && t->len == strlen(kw) && memcmp(t->start, kw, t->len) == 0;
}

static const char *const keywords[] = {
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
};
static bool tok_is_keyword(const token *t)
{
    if (t->kind != T_NAME)
        return false;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (tok_is_kw(t, keywords[i]))
            return true;
    return false;
}

static void syntax_error(parser *P) __attribute__((noreturn));
static void syntax_error(parser *P)
{
    if (P->tok.kind == T_INDENT)
        fail_at(P, P->tok.line, P->tok.col, "unexpected indent");
    if (P->tok.kind == T_DEDENT)
        fail_at(P, P->tok.line, P->tok.col, "unindent does not match any outer indentation level");
    if (P->tok.kind == T_EOF)
        fail_at(P, P->tok.line, P->tok.col, "unexpected EOF while parsing");
    fail_at(P, P->tok.line, P->tok.col, "invalid syntax");
}

static void expect_op(parser *P, int op, const char *what)
{
    if (!is_op(P, op)) {
        if (P->tok.kind == T_NEWLINE || P->tok.kind == T_EOF || op == OPT_COLON)
            fail_at(P, P->tok.line, P->tok.col, "expected '%s'", what);
        syntax_error(P);
    }
    advance(P);
}

static char *expect_name(parser *P)
{
    if (P->tok.kind != T_NAME || tok_is_keyword(&P->tok))
        syntax_error(P);
    char *s = dupn(P, P->tok.start, P->tok.len);
    advance(P);
    return s;
}

static void enter(parser *P)
{
    if (++P->depth > PY_MAX_NEST)
        fail_at(P, P->tok.line, P->tok.col, "too many nested parentheses");
}
static void leave(parser *P) { P->depth--; }

/* ---- expressions ----------------------------------------------------------------------------- */
static node *parse_test(parser *P);
static node *parse_expr(parser *P);   /* bitwise or level */
static node *parse_or_test(parser *P);
static node *parse_testlist(parser *P, bool allow_star);
static node *parse_exprlist(parser *P);
static node *parse_fstring(parser *P, const token *t);
static void parse_params(parser *P, node *d, int closer, bool annotations);

static bool starts_expr(parser *P)
{
    token *t = &P->tok;
    switch (t->kind) {
    case T_NAME:
        if (!tok_is_keyword(t))
            return true;
        return tok_is_kw(t, "None") || tok_is_kw(t, "True") || tok_is_kw(t, "False") ||
               tok_is_kw(t, "not") || tok_is_kw(t, "lambda");
    case T_INT: case T_FLOAT: case T_STRING: case T_FSTRING:
        return true;
    case T_OP:
        return t->op == OPT_LPAR || t->op == OPT_LSQB || t->op == OPT_LBRACE || t->op == OPT_MINUS ||
               t->op == OPT_PLUS || t->op == OPT_TILDE || t->op == OPT_STAR;
    default:
        return false;
    }
}

static void check_target(parser *P, node *t, bool aug);

/* the target of a for statement or clause, and the 'in' after it */
static node *parse_for_target(parser *P)
{
    node *target = parse_exprlist(P);
    check_target(P, target, false);
    if (!is_kw(P, "in"))
        fail_at(P, P->tok.line, P->tok.col, "expected 'in'");
    advance(P);
    return target;
}

/* the clauses after a comprehension's element: for ... in ... [if ...]* repeated */
static node *parse_comp_tail(parser *P, node_kind kind, node *elt, node *value, const token *at)
{
    node *c = mk(P, kind, at);
    c->a = elt;
    c->b = value;
    while (is_kw(P, "for")) {
        token ft = P->tok;
        advance(P);
        node *cl = mk(P, N_COMPFOR, &ft);
        cl->a = parse_for_target(P);
        cl->b = parse_or_test(P);
        while (is_kw(P, "if")) {
            advance(P);
            push(P, &cl->list, parse_or_test(P));
        }
        push(P, &c->list, cl);
    }
    return c;
}

/* yield [testlist] (the 'yield' keyword is the current token) */
static node *parse_yield(parser *P)
{
    token t = P->tok;
    advance(P);
    if (is_kw(P, "from"))
        fail_at(P, P->tok.line, P->tok.col, "'yield from' is not supported yet");
    node *y = mk(P, N_YIELD, &t);
    if (starts_expr(P))
        y->a = parse_testlist(P, true);
    return y;
}

static node *parse_atom(parser *P)
{
    token t = P->tok;
    switch (t.kind) {
    case T_INT: {
        node *n = mk(P, N_CONST_INT, &t);
        n->ival = t.ival;
        advance(P);
        return n;
    }
    case T_FLOAT: {
        node *n = mk(P, N_CONST_FLOAT, &t);
        n->fval = t.fval;
        advance(P);
        return n;
    }
    case T_STRING: case T_FSTRING: {
        /* adjacent literals concatenate; any f-string makes the whole an f-string */
        nodelist parts = {0};
        bool any_f = false;
        while (P->tok.kind == T_STRING || P->tok.kind == T_FSTRING) {
            token s = P->tok;
            if (s.kind == T_FSTRING) {
                any_f = true;
                node *f = parse_fstring(P, &s);
                for (int i = 0; i < f->list.n; i++)
                    push(P, &parts, f->list.v[i]);
            } else {
                node *c = mk(P, N_CONST_STR, &s);
                c->str = s.sval;
                c->slen = s.slen;
                push(P, &parts, c);
            }
            advance(P);
        }
        if (!any_f) {
            size_t total = 0;
            for (int i = 0; i < parts.n; i++) total += parts.v[i]->slen;
            node *n = mk(P, N_CONST_STR, &t);
            n->str = alloc(P, total + 1);
            size_t k = 0;
            for (int i = 0; i < parts.n; i++) {
                memcpy(n->str + k, parts.v[i]->str, parts.v[i]->slen);
                k += parts.v[i]->slen;
            }
            n->slen = total;
            return n;
        }
        node *n = mk(P, N_FSTRING, &t);
        n->list = parts;
        return n;
    }
    case T_NAME: {
        if (tok_is_kw(&t, "None")) { advance(P); return mk(P, N_CONST_NONE, &t); }
        if (tok_is_kw(&t, "True")) { advance(P); return mk(P, N_CONST_TRUE, &t); }
        if (tok_is_kw(&t, "False")) { advance(P); return mk(P, N_CONST_FALSE, &t); }
        if (tok_is_keyword(&t))
            syntax_error(P);
        node *n = mk(P, N_NAME, &t);
        n->str = dupn(P, t.start, t.len);
        advance(P);
        return n;
    }
    case T_OP:
        if (t.op == OPT_LPAR) {
            enter(P);
            advance(P);
            if (is_op(P, OPT_RPAR)) {
                advance(P);
                leave(P);
                return mk(P, N_TUPLE, &t);
            }
            if (is_kw(P, "yield")) {
                node *y = parse_yield(P);
                expect_op(P, OPT_RPAR, ")");
                leave(P);
                return y;
            }
            node *first = is_op(P, OPT_STAR) ? NULL : parse_test(P);
            if (first && is_kw(P, "for")) {
                node *g = parse_comp_tail(P, N_GENEXP, first, NULL, &t);
                expect_op(P, OPT_RPAR, ")");
                leave(P);
                return g;
            }
            if (first && is_op(P, OPT_RPAR)) {
                advance(P);
                leave(P);
                return first;   /* parenthesised expression */
            }
            node *tup = mk(P, N_TUPLE, &t);
            if (first) {
                push(P, &tup->list, first);
                expect_op(P, OPT_COMMA, ",");
            }
            while (!is_op(P, OPT_RPAR)) {
                if (is_op(P, OPT_STAR)) {
                    token st = P->tok;
                    advance(P);
                    node *s = mk(P, N_STARRED, &st);
                    s->a = parse_expr(P);
                    push(P, &tup->list, s);
                } else {
                    push(P, &tup->list, parse_test(P));
                }
                if (!is_op(P, OPT_COMMA))
                    break;
                advance(P);
            }
            expect_op(P, OPT_RPAR, ")");
            leave(P);
            return tup;
        }
        if (t.op == OPT_LSQB) {
            enter(P);
            advance(P);
            node *l = mk(P, N_LIST, &t);
            if (!is_op(P, OPT_RSQB)) {
                node *first = parse_test(P);
                if (is_kw(P, "for")) {
                    node *c = parse_comp_tail(P, N_LISTCOMP, first, NULL, &t);
                    expect_op(P, OPT_RSQB, "]");
                    leave(P);
                    return c;
                }
                push(P, &l->list, first);
                while (is_op(P, OPT_COMMA)) {
                    advance(P);
                    if (is_op(P, OPT_RSQB))
                        break;
                    push(P, &l->list, parse_test(P));
                }
            }
            expect_op(P, OPT_RSQB, "]");
            leave(P);
            return l;
        }
        if (t.op == OPT_LBRACE) {
            enter(P);
            advance(P);
            node *d = mk(P, N_DICT, &t);
            while (!is_op(P, OPT_RBRACE)) {
                node *k = parse_test(P);
                if (!is_op(P, OPT_COLON) && d->list.n == 0) {
                    /* a set display */
                    d->kind = N_SET;
                    push(P, &d->list, k);
                    while (is_op(P, OPT_COMMA)) {
                        advance(P);
                        if (is_op(P, OPT_RBRACE))
                            break;
                        push(P, &d->list, parse_test(P));
                    }
                    if (d->list.n == 1 && is_kw(P, "for")) {
                        d = parse_comp_tail(P, N_SETCOMP, k, NULL, &t);
                        break;
                    }
                    break;
                }
                if (!is_op(P, OPT_COLON))
                    fail_at(P, P->tok.line, P->tok.col, "':' expected after dictionary key");
                advance(P);
                push(P, &d->list, k);
                push(P, &d->list2, parse_test(P));
                if (d->list.n == 1 && is_kw(P, "for")) {
                    d = parse_comp_tail(P, N_DICTCOMP, k, d->list2.v[0], &t);
                    break;
                }
                if (!is_op(P, OPT_COMMA))
                    break;
                advance(P);
            }
            expect_op(P, OPT_RBRACE, "}");
            leave(P);
            return d;
        }
        syntax_error(P);
    case T_INDENT:
        fail_at(P, t.line, t.col, "unexpected indent");
    case T_NEWLINE: case T_EOF:
        fail_at(P, t.line, t.col, "invalid syntax");
    default:
        syntax_error(P);
    }
}

static node *parse_subscript(parser *P)
{
    token t = P->tok;
    node *lo = NULL, *hi = NULL, *st = NULL;
    if (!is_op(P, OPT_COLON))
        lo = parse_test(P);
    if (!is_op(P, OPT_COLON))
        return lo;
    advance(P);
    if (!is_op(P, OPT_RSQB) && !is_op(P, OPT_COLON) && !is_op(P, OPT_COMMA))
        hi = parse_test(P);
    if (is_op(P, OPT_COLON)) {
        advance(P);
        if (!is_op(P, OPT_RSQB) && !is_op(P, OPT_COMMA))
            st = parse_test(P);
    }
    node *s = mk(P, N_SLICE, &t);
    s->a = lo;
    s->b = hi;
    s->c = st;
    return s;
}

static node *parse_trailers(parser *P, node *e)
{
    for (;;) {
        token t = P->tok;
        if (is_op(P, OPT_LPAR)) {
            enter(P);
            advance(P);
            node *c = mk(P, N_CALL, &t);
            c->a = e;
            while (!is_op(P, OPT_RPAR)) {
                token at = P->tok;
                if (is_op(P, OPT_STAR) || is_op(P, OPT_DSTAR)) {
                    bool dbl = is_op(P, OPT_DSTAR);
                    advance(P);
                    node *st = mk(P, dbl ? N_KEYWORD : N_STARRED, &at);
                    st->a = parse_test(P);   /* N_KEYWORD without a name: **mapping */
                    if (dbl) push(P, &c->list2, st);
                    else {
                        for (int i = 0; i < c->list2.n; i++)
                            if (!c->list2.v[i]->str)
                                fail_at(P, at.line, at.col, "iterable argument unpacking follows keyword argument unpacking");
                        push(P, &c->list, st);
                    }
                    if (!is_op(P, OPT_COMMA))
                        break;
                    advance(P);
                    continue;
                }
                node *arg = parse_test(P);
                if (is_op(P, OPT_ASSIGN)) {
                    if (arg->kind != N_NAME)
                        fail_at(P, arg->line, arg->col, "expression cannot contain assignment, perhaps you meant \"==\"?");
                    advance(P);
                    node *kw = mk(P, N_KEYWORD, &at);
                    kw->str = arg->str;
                    kw->a = parse_test(P);
                    for (int i = 0; i < c->list2.n; i++)
                        if (c->list2.v[i]->str && strcmp(c->list2.v[i]->str, kw->str) == 0)
                            fail_at(P, at.line, at.col, "keyword argument repeated: %s", kw->str);
                    push(P, &c->list2, kw);
                } else {
                    if (is_kw(P, "for")) {
                        /* f(x for x in s): the generator expression is the only argument */
                        if (c->list.n || c->list2.n)
                            fail_at(P, arg->line, arg->col, "Generator expression must be parenthesized");
                        push(P, &c->list, parse_comp_tail(P, N_GENEXP, arg, NULL, &at));
                        if (is_op(P, OPT_COMMA)) {
                            advance(P);
                            if (!is_op(P, OPT_RPAR))
                                fail_at(P, arg->line, arg->col, "Generator expression must be parenthesized");
                        }
                        break;
                    }
                    if (c->list2.n) {
                        bool unpack_only = true;
                        for (int i = 0; i < c->list2.n; i++)
                            if (c->list2.v[i]->str) unpack_only = false;
                        fail_at(P, arg->line, arg->col, unpack_only ? "positional argument follows keyword argument unpacking"
                                                                    : "positional argument follows keyword argument");
                    }
                    push(P, &c->list, arg);
                }
                if (!is_op(P, OPT_COMMA))
                    break;
                advance(P);
            }
            expect_op(P, OPT_RPAR, ")");
            leave(P);
            e = c;
        } else if (is_op(P, OPT_LSQB)) {
            enter(P);
            advance(P);
            node *s = mk(P, N_SUBSCRIPT, &t);
            s->a = e;
            node *idx = parse_subscript(P);
            if (is_op(P, OPT_COMMA)) {
                node *tup = mk(P, N_TUPLE, &t);
                push(P, &tup->list, idx);
                while (is_op(P, OPT_COMMA)) {
                    advance(P);
                    if (is_op(P, OPT_RSQB))
                        break;
                    push(P, &tup->list, parse_subscript(P));
                }
                idx = tup;
            }
            s->b = idx;
            expect_op(P, OPT_RSQB, "]");
            leave(P);
            e = s;
        } else if (is_op(P, OPT_DOT)) {
            advance(P);
            node *a = mk(P, N_ATTR, &t);
            a->a = e;
            a->str = expect_name(P);
            e = a;
        } else {
            return e;
        }
    }
}

static node *parse_unary(parser *P);

static node *parse_power(parser *P)
{
    node *e = parse_trailers(P, parse_atom(P));
    if (is_op(P, OPT_DSTAR)) {
        token t = P->tok;
        advance(P);
        node *b = mk(P, N_BINOP, &t);
        b->op = BIN_POW;
        b->a = e;
        enter(P);
        b->b = parse_unary(P);   /* right associative, binds tighter than unary on the left */
        leave(P);
        b->line = e->line;
        b->col = e->col;
        return b;
    }
    return e;
}

static node *parse_unary(parser *P)
{
    token t = P->tok;
    if (is_op(P, OPT_MINUS) || is_op(P, OPT_PLUS) || is_op(P, OPT_TILDE)) {
        int op = is_op(P, OPT_MINUS) ? UN_NEG : is_op(P, OPT_PLUS) ? UN_POS : UN_INVERT;
        advance(P);
        enter(P);
        node *operand = parse_unary(P);
        leave(P);
        /* fold -<int literal> so that -9223372036854775808 style constants stay exact */
        if (op == UN_NEG && operand->kind == N_CONST_INT) {
            operand->ival = -operand->ival;
            operand->line = t.line + P->line_off;
            operand->col = t.col;
            return operand;
        }
        if (op == UN_NEG && operand->kind == N_CONST_FLOAT) {
            operand->fval = -operand->fval;
            return operand;
        }
        node *u = mk(P, N_UNARY, &t);
        u->op = op;
        u->a = operand;
        return u;
    }
    return parse_power(P);
}

static int binop_of(parser *P, int level)
{
    if (P->tok.kind != T_OP)
        return -1;
    int op = P->tok.op;
    switch (level) {
    case 0: return op == OPT_PIPE ? BIN_OR : -1;
    case 1: return op == OPT_CARET ? BIN_XOR : -1;
    case 2: return op == OPT_AMP ? BIN_AND : -1;
    case 3: return op == OPT_LSHIFT ? BIN_LSHIFT : op == OPT_RSHIFT ? BIN_RSHIFT : -1;
    case 4: return op == OPT_PLUS ? BIN_ADD : op == OPT_MINUS ? BIN_SUB : -1;
    case 5: return op == OPT_STAR ? BIN_MUL : op == OPT_SLASH ? BIN_TRUEDIV : op == OPT_DSLASH ? BIN_FLOORDIV
                 : op == OPT_PERCENT ? BIN_MOD : op == OPT_AT ? BIN_MATMUL : -1;
    }
    return -1;
}

static node *parse_binary(parser *P, int level)
{
    if (level > 5)
        return parse_unary(P);
    node *e = parse_binary(P, level + 1);
    int op;
    while ((op = binop_of(P, level)) >= 0) {
        token t = P->tok;
        advance(P);
        node *b = mk(P, N_BINOP, &t);
        b->op = op;
        b->a = e;
        b->b = parse_binary(P, level + 1);
        b->line = e->line;
        b->col = e->col;
        e = b;
    }
    return e;
}

static node *parse_expr(parser *P) { return parse_binary(P, 0); }

static int compare_op(parser *P)
{
    if (P->tok.kind == T_OP) {
        switch (P->tok.op) {
        case OPT_LT: return CMP_LT;
        case OPT_LE: return CMP_LE;
        case OPT_EQ: return CMP_EQ;
        case OPT_NE: return CMP_NE;
        case OPT_GT: return CMP_GT;
        case OPT_GE: return CMP_GE;
        }
        return -1;
    }
    if (is_kw(P, "in"))
        return CMPX_IN;
    if (is_kw(P, "is"))
        return CMPX_IS;
    if (is_kw(P, "not") && tok_is_kw(peek_tok(P), "in"))
        return CMPX_NOT_IN;
    return -1;
}

static node *parse_comparison(parser *P)
{
    node *e = parse_expr(P);
    int op = compare_op(P);
    if (op < 0)
        return e;
    node *c = mk(P, N_COMPARE, &P->tok);
    c->line = e->line;
    c->col = e->col;
    c->a = e;
    int cap = 4, n = 0;
    c->ops = alloc(P, sizeof(int) * (size_t)cap);
    while ((op = compare_op(P)) >= 0) {
        advance(P);
        if (op == CMPX_NOT_IN)
            advance(P);
        else if (op == CMPX_IS && is_kw(P, "not")) {
            advance(P);
            op = CMPX_IS_NOT;
        }
        if (n == cap) {
            int *o = alloc(P, sizeof(int) * (size_t)cap * 2);
            memcpy(o, c->ops, sizeof(int) * (size_t)n);
            c->ops = o;
            cap *= 2;
        }
        c->ops[n++] = op;
        push(P, &c->list, parse_expr(P));
    }
    return c;
}

static node *parse_not_test(parser *P)
{
    if (is_kw(P, "not")) {
        token t = P->tok;
        advance(P);
        node *u = mk(P, N_UNARY, &t);
        u->op = UN_NOT;
        enter(P);
        u->a = parse_not_test(P);
        leave(P);
        return u;
    }
    return parse_comparison(P);
}

static node *parse_boolop(parser *P, int is_or)
{
    node *e = is_or ? parse_boolop(P, 0) : parse_not_test(P);
    if (!is_kw(P, is_or ? "or" : "and"))
        return e;
    node *b = mk(P, N_BOOLOP, &P->tok);
    b->line = e->line;
    b->col = e->col;
    b->op = is_or;
    push(P, &b->list, e);
    while (is_kw(P, is_or ? "or" : "and")) {
        advance(P);
        push(P, &b->list, is_or ? parse_boolop(P, 0) : parse_not_test(P));
    }
    return b;
}

static node *parse_or_test(parser *P) { return parse_boolop(P, 1); }

static node *parse_test(parser *P)
{
    enter(P);
    if (is_kw(P, "lambda")) {
        token t = P->tok;
        advance(P);
        node *l = mk(P, N_LAMBDA, &t);
        parse_params(P, l, OPT_COLON, false);
        expect_op(P, OPT_COLON, ":");
        l->a = parse_test(P);
        leave(P);
        return l;
    }
    node *e = parse_or_test(P);
    if (is_kw(P, "if")) {
        token t = P->tok;
        advance(P);
        node *c = mk(P, N_IFEXP, &t);
        c->line = e->line;
        c->col = e->col;
        c->b = e;
        c->a = parse_or_test(P);
        if (!is_kw(P, "else"))
            fail_at(P, P->tok.line, P->tok.col, "expected 'else' after 'if' expression");
        advance(P);
        c->c = parse_test(P);
        e = c;
    }
    leave(P);
    return e;
}

/* a comma-separated list of tests; one without a comma is itself, otherwise a tuple */
static node *parse_testlist(parser *P, bool allow_star)
{
    token t = P->tok;
    node *first;
    if (allow_star && is_op(P, OPT_STAR)) {
        advance(P);
        first = mk(P, N_STARRED, &t);
        first->a = parse_expr(P);
    } else {
        first = parse_test(P);
    }
    if (!is_op(P, OPT_COMMA) && first->kind != N_STARRED)
        return first;
    node *tup = mk(P, N_TUPLE, &t);
    push(P, &tup->list, first);
    while (is_op(P, OPT_COMMA)) {
        advance(P);
        if (!starts_expr(P))
            break;
        if (allow_star && is_op(P, OPT_STAR)) {
            token st = P->tok;
            advance(P);
            node *s = mk(P, N_STARRED, &st);
            s->a = parse_expr(P);
            push(P, &tup->list, s);
        } else {
            push(P, &tup->list, parse_test(P));
        }
    }
    return tup;
}

static node *parse_exprlist(parser *P)
{
    token t = P->tok;
    node *first = parse_expr(P);
    if (!is_op(P, OPT_COMMA))
        return first;
    node *tup = mk(P, N_TUPLE, &t);
    push(P, &tup->list, first);
    while (is_op(P, OPT_COMMA)) {
        advance(P);
        if (is_kw(P, "in") || is_op(P, OPT_ASSIGN))
            break;
        push(P, &tup->list, parse_expr(P));
    }
    return tup;
}

/* ---- f-strings ------------------------------------------------------------------------------- */
int lexer_decode_piece(const char *s, size_t n, bool raw, sbuf *out, const char **bad, const char **why);

static node *fstring_literal(parser *P, const token *t, const char *s, size_t n)
{
    sbuf b;
    sb_init(&b);
    const char *bad = NULL, *why = NULL;
    if (lexer_decode_piece(s, n, t->ival != 0, &b, &bad, &why) < 0) {
        sb_free(&b);
        fail_at(P, t->line, t->col, "(unicode error) %s", why);
    }
    if (b.oom) {
        sb_free(&b);
        fail_oom(P);
    }
    node *c = mk(P, N_CONST_STR, t);
    c->str = dupn(P, b.data ? b.data : "", b.len);
    c->slen = b.len;
    sb_free(&b);
    return c;
}

static node *parse_fstring_body(parser *P, const token *t, const char *s, size_t n, int nest)
{
    node *f = mk(P, N_FSTRING, t);
    sbuf lit;
    sb_init(&lit);
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '{' && i + 1 < n && s[i + 1] == '{') { sb_putc(&lit, '{'); i += 2; continue; }
        if (c == '}' && i + 1 < n && s[i + 1] == '}') { sb_putc(&lit, '}'); i += 2; continue; }
        if (c == '}') {
            sb_free(&lit);
            fail_at(P, t->line, t->col, "f-string: single '}' is not allowed");
        }
        if (c != '{') { sb_putc(&lit, c); i++; continue; }
        if (lit.len) {
            push(P, &f->list, fstring_literal(P, t, lit.data, lit.len));
            lit.len = 0;
        }
        /* find the end of the expression: a top-level '!', ':' or '}' */
        size_t j = i + 1, depth = 0;
        char quote = 0;
        for (; j < n; j++) {
            char d = s[j];
            if (quote) { if (d == quote) quote = 0; continue; }
            if (d == '\'' || d == '"') { quote = d; continue; }
            if (d == '(' || d == '[' || d == '{') depth++;
            else if ((d == ')' || d == ']' || d == '}') && depth) depth--;
            else if (depth == 0 && (d == '}' || d == ':' || (d == '!' && j + 1 < n && s[j + 1] != '='))) break;
        }
        if (j >= n) {
            sb_free(&lit);
            fail_at(P, t->line, t->col, "f-string: expecting '}'");
        }
        size_t elen = j - (i + 1);
        const char *es = s + i + 1;
        size_t k = 0;
        while (k < elen && (es[k] == ' ' || es[k] == '\t')) k++;
        if (k == elen) {
            sb_free(&lit);
            fail_at(P, t->line, t->col, "f-string: empty expression not allowed");
        }
        int errline = 0, errcol = 0;
        node *e = parse_fstring_expr(P->ar, es, elen, P->lx.filename, t->line + P->line_off, t->col,
                                     P->errmsg, P->errsize, &errline, &errcol);
        if (!e) {
            sb_free(&lit);
            *P->errline = errline;
            *P->errcol = errcol;
            longjmp(P->fail, 1);
        }
        node *field = mk(P, N_FIELD, t);
        field->a = e;
        if (s[j] == '!') {
            if (j + 1 >= n || (s[j + 1] != 'r' && s[j + 1] != 's' && s[j + 1] != 'a')) {
                sb_free(&lit);
                fail_at(P, t->line, t->col, "f-string: invalid conversion character: expected 's', 'r', or 'a'");
            }
            field->op = s[j + 1];
            j += 2;
        }
        if (j < n && s[j] == ':') {
            if (nest >= 1) {
                sb_free(&lit);
                fail_at(P, t->line, t->col, "f-string: expressions nested too deeply");
            }
            size_t k2 = j + 1, d2 = 0;
            for (; k2 < n; k2++) {
                if (s[k2] == '{') d2++;
                else if (s[k2] == '}') { if (!d2) break; d2--; }
            }
            if (k2 >= n) {
                sb_free(&lit);
                fail_at(P, t->line, t->col, "f-string: expecting '}'");
            }
            field->b = parse_fstring_body(P, t, s + j + 1, k2 - j - 1, nest + 1);
            j = k2;
        }
        if (j >= n || s[j] != '}') {
            sb_free(&lit);
            fail_at(P, t->line, t->col, "f-string: expecting '}'");
        }
        push(P, &f->list, field);
        i = j + 1;
    }
    if (lit.len)
        push(P, &f->list, fstring_literal(P, t, lit.data, lit.len));
    bool oom = lit.oom;
    sb_free(&lit);
    if (oom)
        fail_oom(P);
    return f;
}

static node *parse_fstring(parser *P, const token *t)
{
    return parse_fstring_body(P, t, t->sval, t->slen, 0);
}

/* ---- statements ------------------------------------------------------------------------------ */
static void parse_block(parser *P, nodelist *body, const token *owner, const char *what);
static node *parse_statement(parser *P);

static void end_simple(parser *P)
{
    if (P->tok.kind == T_NEWLINE) {
        advance(P);
        return;
    }
    if (P->tok.kind == T_EOF)
        return;
    syntax_error(P);
}

static bool valid_target(node *t)
{
    switch (t->kind) {
    case N_NAME: case N_ATTR: case N_SUBSCRIPT:
        return true;
    case N_TUPLE: case N_LIST:
        for (int i = 0; i < t->list.n; i++)
            if (!valid_target(t->list.v[i]))
                return false;
        return true;
    default:
        return false;
    }
}

static const char *target_desc(node *t)
{
    switch (t->kind) {
    case N_CALL: return "function call";
    case N_CONST_INT: case N_CONST_FLOAT: case N_CONST_STR: case N_CONST_TRUE: case N_CONST_FALSE:
    case N_CONST_NONE: return "literal";
    case N_BINOP: case N_UNARY: return "expression";
    case N_COMPARE: return "comparison";
    case N_BOOLOP: return "expression";
    case N_FSTRING: return "f-string expression";
    case N_IFEXP: return "conditional expression";
    case N_DICT: return "dict literal";
    case N_LISTCOMP: return "list comprehension";
    case N_SETCOMP: return "set comprehension";
    case N_DICTCOMP: return "dict comprehension";
    case N_GENEXP: return "generator expression";
    case N_YIELD: return "yield expression";
    default: return "expression";
    }
}

static void check_target(parser *P, node *t, bool aug)
{
    if (aug && (t->kind == N_TUPLE || t->kind == N_LIST))
        fail_at(P, t->line, t->col, "'%s' is an illegal expression for augmented assignment",
                t->kind == N_TUPLE ? "tuple" : "list");
    if (!valid_target(t)) {
        node *bad = t;
        if (t->kind == N_TUPLE || t->kind == N_LIST)
            for (int i = 0; i < t->list.n; i++)
                if (!valid_target(t->list.v[i])) {
                    bad = t->list.v[i];
                    break;
                }
        if (bad->kind == N_STARRED)
            fail_at(P, bad->line, bad->col, "starred assignment targets are not supported yet");
        if (aug)
            fail_at(P, bad->line, bad->col, "'%s' is an illegal expression for augmented assignment", target_desc(bad));
        fail_at(P, bad->line, bad->col, "cannot assign to %s here. Maybe you meant '==' instead of '='?", target_desc(bad));
    }
}

/* a module name: NAME ('.' NAME)* */
static char *parse_dotted(parser *P)
{
    char *n = expect_name(P);
    while (is_op(P, OPT_DOT)) {
        advance(P);
        char *part = expect_name(P);
        size_t a = strlen(n), b = strlen(part);
        char *j = alloc(P, a + b + 2);
        memcpy(j, n, a);
        j[a] = '.';
        memcpy(j + a + 1, part, b + 1);
        n = j;
    }
    return n;
}

static node *parse_simple(parser *P)
{
    token t = P->tok;
    if (is_kw(P, "pass")) { advance(P); return mk(P, N_PASS, &t); }
    if (is_kw(P, "break")) { advance(P); return mk(P, N_BREAK, &t); }
    if (is_kw(P, "continue")) { advance(P); return mk(P, N_CONTINUE, &t); }
    if (is_kw(P, "return")) {
        advance(P);
        node *r = mk(P, N_RETURN, &t);
        if (starts_expr(P))
            r->a = parse_testlist(P, true);
        return r;
    }
    if (is_kw(P, "raise")) {
        advance(P);
        node *r = mk(P, N_RAISE, &t);
        if (starts_expr(P)) {
            r->a = parse_test(P);
            if (is_kw(P, "from")) {
                advance(P);
                r->b = parse_test(P);
            }
        }
        return r;
    }
    if (is_kw(P, "global") || is_kw(P, "nonlocal")) {
        bool glob = is_kw(P, "global");
        advance(P);
        node *g = mk(P, glob ? N_GLOBAL : N_NONLOCAL, &t);
        int cap = 4;
        g->names = alloc(P, sizeof(char *) * (size_t)cap);
        for (;;) {
            if (g->nnames == cap) {
                char **nn = alloc(P, sizeof(char *) * (size_t)cap * 2);
                memcpy(nn, g->names, sizeof(char *) * (size_t)cap);
                g->names = nn;
                cap *= 2;
            }
            g->names[g->nnames++] = expect_name(P);
            if (!is_op(P, OPT_COMMA))
                break;
            advance(P);
        }
        return g;
    }
    if (is_kw(P, "del")) {
        advance(P);
        node *d = mk(P, N_DEL, &t);
        node *e = parse_exprlist(P);
        if (e->kind == N_TUPLE) d->list = e->list;
        else push(P, &d->list, e);
        for (int i = 0; i < d->list.n; i++) {
            node *x = d->list.v[i];
            if (x->kind != N_NAME && x->kind != N_SUBSCRIPT && x->kind != N_ATTR)
                fail_at(P, x->line, x->col, "cannot delete %s", target_desc(x));
        }
        return d;
    }
    if (is_kw(P, "assert")) {
        advance(P);
        node *a = mk(P, N_ASSERT, &t);
        a->a = parse_test(P);
        if (is_op(P, OPT_COMMA)) {
            advance(P);
            a->b = parse_test(P);
        }
        return a;
    }
    if (is_kw(P, "import")) {
        advance(P);
        node *im = mk(P, N_IMPORT, &t);
        im->str = parse_dotted(P);
        im->names2 = alloc(P, sizeof(char *));
        im->names = alloc(P, sizeof(char *));
        im->nnames = 1;
        if (is_kw(P, "as")) {
            advance(P);
            im->names2[0] = expect_name(P);
            im->names[0] = im->names2[0];
        } else {
            /* import a.b binds a */
            const char *dot = strchr(im->str, '.');
            im->names[0] = dot ? dupn(P, im->str, (size_t)(dot - im->str)) : im->str;
        }
        if (is_op(P, OPT_COMMA))
            fail_at(P, P->tok.line, P->tok.col, "one module per import statement for now");
        return im;
    }
    if (is_kw(P, "from")) {
        advance(P);
        node *im = mk(P, N_FROMIMPORT, &t);
        if (is_op(P, OPT_DOT))
            fail_at(P, P->tok.line, P->tok.col, "relative imports are not supported yet");
        im->str = parse_dotted(P);
        if (!is_kw(P, "import"))
            fail_at(P, P->tok.line, P->tok.col, "invalid syntax");
        advance(P);
        bool paren = is_op(P, OPT_LPAR);
        if (paren) advance(P);
        int cap = 8;
        im->names = alloc(P, sizeof(char *) * (size_t)cap);
        im->names2 = alloc(P, sizeof(char *) * (size_t)cap);
        for (;;) {
            if (im->nnames == cap) {
                char **a = alloc(P, sizeof(char *) * (size_t)cap * 2), **b = alloc(P, sizeof(char *) * (size_t)cap * 2);
                memcpy(a, im->names, sizeof(char *) * (size_t)cap);
                memcpy(b, im->names2, sizeof(char *) * (size_t)cap);
                im->names = a;
                im->names2 = b;
                cap *= 2;
            }
            if (is_op(P, OPT_STAR))
                fail_at(P, P->tok.line, P->tok.col, "'from m import *' is not supported yet");
            im->names[im->nnames] = expect_name(P);
            if (is_kw(P, "as")) {
                advance(P);
                im->names2[im->nnames] = expect_name(P);
            }
            im->nnames++;
            if (!is_op(P, OPT_COMMA))
                break;
            advance(P);
            if (paren && is_op(P, OPT_RPAR))
                break;
        }
        if (paren) expect_op(P, OPT_RPAR, ")");
        return im;
    }
    if (tok_is_keyword(&t) && !starts_expr(P) && !is_kw(P, "yield"))
        syntax_error(P);
    /* expression, assignment or augmented assignment */
    node *e = is_kw(P, "yield") ? parse_yield(P) : parse_testlist(P, true);
    if (P->tok.kind == T_OP && P->tok.op >= OPT_PLUSEQ && P->tok.op <= OPT_ATEQ) {
        static const int aug[] = { BIN_ADD, BIN_SUB, BIN_MUL, BIN_TRUEDIV, BIN_FLOORDIV, BIN_MOD, BIN_POW,
                                   BIN_LSHIFT, BIN_RSHIFT, BIN_AND, BIN_OR, BIN_XOR, BIN_MATMUL };
        check_target(P, e, true);
        node *a = mk(P, N_AUGASSIGN, &t);
        a->op = aug[P->tok.op - OPT_PLUSEQ];
        advance(P);
        a->a = e;
        a->b = is_kw(P, "yield") ? parse_yield(P) : parse_testlist(P, false);
        return a;
    }
    if (is_op(P, OPT_ASSIGN)) {
        node *a = mk(P, N_ASSIGN, &t);
        while (is_op(P, OPT_ASSIGN)) {
            check_target(P, e, false);
            push(P, &a->list, e);
            advance(P);
            e = is_kw(P, "yield") ? parse_yield(P) : parse_testlist(P, true);
        }
        a->a = e;
        return a;
    }
    if (e->kind == N_STARRED)
        fail_at(P, e->line, e->col, "can't use starred expression here");
    node *s = mk(P, N_EXPR_STMT, &t);
    s->a = e;
    return s;
}

static void parse_simple_line(parser *P, nodelist *out)
{
    for (;;) {
        push(P, out, parse_simple(P));
        if (!is_op(P, OPT_SEMI))
            break;
        advance(P);
        if (P->tok.kind == T_NEWLINE || P->tok.kind == T_EOF)
            break;
    }
    end_simple(P);
}

static void parse_block(parser *P, nodelist *body, const token *owner, const char *what)
{
    expect_op(P, OPT_COLON, ":");
    if (P->tok.kind != T_NEWLINE) {
        parse_simple_line(P, body);
        return;
    }
    advance(P);
    if (P->tok.kind != T_INDENT)
        fail_at(P, P->tok.line, P->tok.col, "expected an indented block after %s on line %d", what, owner->line + P->line_off);
    advance(P);
    while (P->tok.kind != T_DEDENT && P->tok.kind != T_EOF) {
        node *s = parse_statement(P);
        if (s)
            push(P, body, s);
    }
    if (P->tok.kind == T_DEDENT)
        advance(P);
}

static node *parse_if(parser *P, const char *what)
{
    token t = P->tok;
    advance(P);
    node *n = mk(P, N_IF, &t);
    n->a = parse_test(P);
    parse_block(P, &n->list, &t, what);
    if (is_kw(P, "elif")) {
        push(P, &n->list2, parse_if(P, "'elif' statement"));
    } else if (is_kw(P, "else")) {
        token e = P->tok;
        advance(P);
        parse_block(P, &n->list2, &e, "'else' statement");
    }
    return n;
}

/* Parameters up to `closer`: positional (with defaults), *args or a bare *, keyword-only (with or
 * without defaults), **kwargs.  names = positional, keyword-only, *args, **kwargs; list =
 * positional defaults (the last list.n positional), list3 = one entry per keyword-only
 * parameter (NULL: required). */
static void parse_params(parser *P, node *d, int closer, bool annotations)
{
    char *pos[256], *kwo[256], *varargs = NULL, *varkw = NULL;
    int np = 0, nk = 0;
    bool star_seen = false;
    while (!is_op(P, closer)) {
        token pt = P->tok;
        int kind;   /* 0 positional, 1 keyword-only, 2 *args or **kwargs, 3 bare * */
        if (varkw)
            fail_at(P, pt.line, pt.col, "arguments cannot follow var-keyword argument");
        if (is_op(P, OPT_DSTAR)) {
            advance(P);
            varkw = expect_name(P);
            kind = 2;
        } else if (is_op(P, OPT_STAR)) {
            if (star_seen)
                fail_at(P, pt.line, pt.col, "* argument may appear only once");
            advance(P);
            star_seen = true;
            if (!is_op(P, OPT_COMMA) && !is_op(P, closer)) {
                varargs = expect_name(P);
                kind = 2;
            } else {
                if (is_op(P, closer) || peek_tok(P)->kind != T_NAME)
                    fail_at(P, pt.line, pt.col, "named arguments must follow bare *");
                kind = 3;
            }
        } else {
            char *name = expect_name(P);
            if (np + nk >= 255)
                fail_at(P, pt.line, pt.col, "too many parameters");
            kind = star_seen ? 1 : 0;
            if (kind) kwo[nk++] = name;
            else pos[np++] = name;
        }
        if (annotations && kind != 3 && is_op(P, OPT_COLON)) {   /* annotation: parsed and dropped */
            advance(P);
            parse_test(P);
        }
        if (is_op(P, OPT_ASSIGN)) {
            if (kind >= 2)
                fail_at(P, P->tok.line, P->tok.col, "var-positional argument cannot have default value");
            advance(P);
            push(P, kind ? &d->list3 : &d->list, parse_test(P));
        } else if (kind == 1) {
            push(P, &d->list3, NULL);
        } else if (kind == 0 && d->list.n) {
            fail_at(P, pt.line, pt.col, "non-default argument follows default argument");
        }
        if (!is_op(P, OPT_COMMA))
            break;
        advance(P);
    }
    int total = np + nk + (varargs ? 1 : 0) + (varkw ? 1 : 0);
    d->names = alloc(P, sizeof(char *) * (size_t)(total + 1));
    int k = 0;
    for (int i = 0; i < np; i++) d->names[k++] = pos[i];
    for (int i = 0; i < nk; i++) d->names[k++] = kwo[i];
    if (varargs) d->names[k++] = varargs;
    if (varkw) d->names[k++] = varkw;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(d->names[i], d->names[j]) == 0)
                fail_at(P, d->line, d->col, "duplicate argument '%s' in function definition", d->names[i]);
    d->nnames = k;
    d->nposargs = np;
    d->nkwonly = nk;
    d->pflags = (varargs ? PF_VARARGS : 0) | (varkw ? PF_VARKW : 0);
}

static node *parse_def(parser *P)
{
    token t = P->tok;
    advance(P);
    node *d = mk(P, N_DEF, &t);
    d->str = expect_name(P);
    expect_op(P, OPT_LPAR, "(");
    parse_params(P, d, OPT_RPAR, true);
    expect_op(P, OPT_RPAR, ")");
    if (is_op(P, OPT_ARROW)) {
        advance(P);
        parse_test(P);
    }
    parse_block(P, &d->list2, &t, "function definition");
    return d;
}

static node *parse_statement(parser *P)
{
    token t = P->tok;
    if (t.kind == T_INDENT)
        fail_at(P, t.line, t.col, "unexpected indent");
    if (t.kind == T_NEWLINE) {
        advance(P);
        return NULL;
    }
    if (is_kw(P, "if"))
        return parse_if(P, "'if' statement");
    if (is_kw(P, "while")) {
        advance(P);
        node *n = mk(P, N_WHILE, &t);
        n->a = parse_test(P);
        parse_block(P, &n->list, &t, "'while' statement");
        if (is_kw(P, "else")) {
            token e = P->tok;
            advance(P);
            parse_block(P, &n->list2, &e, "'else' statement");
        }
        return n;
    }
    if (is_kw(P, "for")) {
        advance(P);
        node *n = mk(P, N_FOR, &t);
        n->a = parse_for_target(P);
        n->b = parse_testlist(P, false);
        parse_block(P, &n->list, &t, "'for' statement");
        if (is_kw(P, "else")) {
            token e = P->tok;
            advance(P);
            parse_block(P, &n->list2, &e, "'else' statement");
        }
        return n;
    }
    if (is_kw(P, "def"))
        return parse_def(P);
    if (is_kw(P, "class")) {
        advance(P);
        node *c = mk(P, N_CLASS, &t);
        c->str = expect_name(P);
        if (is_op(P, OPT_LPAR)) {
            advance(P);
            if (!is_op(P, OPT_RPAR)) {
                c->a = parse_test(P);
                if (is_op(P, OPT_COMMA)) {
                    advance(P);
                    if (!is_op(P, OPT_RPAR))
                        fail_at(P, P->tok.line, P->tok.col, "multiple inheritance is not supported yet");
                }
            }
            expect_op(P, OPT_RPAR, ")");
        }
        parse_block(P, &c->list, &t, "class definition");
        return c;
    }
    if (is_kw(P, "try")) {
        advance(P);
        node *n = mk(P, N_TRY, &t);
        parse_block(P, &n->list, &t, "'try' statement");
        while (is_kw(P, "except")) {
            token et = P->tok;
            advance(P);
            node *h = mk(P, N_EXCEPT, &et);
            if (!is_op(P, OPT_COLON)) {
                h->a = parse_test(P);
                if (is_op(P, OPT_COMMA)) {
                    node *tup = mk(P, N_TUPLE, &et);
                    push(P, &tup->list, h->a);
                    while (is_op(P, OPT_COMMA)) {
                        advance(P);
                        push(P, &tup->list, parse_test(P));
                    }
                    h->a = tup;
                }
                if (is_kw(P, "as")) {
                    advance(P);
                    h->str = expect_name(P);
                }
            }
            if (n->list2.n && !n->list2.v[n->list2.n - 1]->a)
                fail_at(P, et.line, et.col, "default 'except:' must be last");
            parse_block(P, &h->list, &et, "'except' statement");
            push(P, &n->list2, h);
        }
        if (is_kw(P, "else")) {
            token e = P->tok;
            if (!n->list2.n)
                syntax_error(P);
            advance(P);
            parse_block(P, &n->list4, &e, "'else' statement");
        }
        if (is_kw(P, "finally")) {
            token f = P->tok;
            advance(P);
            parse_block(P, &n->list3, &f, "'finally' statement");
            if (!n->list3.n)
                push(P, &n->list3, mk(P, N_PASS, &f));
        }
        if (!n->list2.n && !n->list3.n)
            fail_at(P, P->tok.line, P->tok.col, "expected 'except' or 'finally' block");
        return n;
    }
    if (is_kw(P, "with")) {
        advance(P);
        node *outer = NULL, *cur = NULL;
        for (;;) {
            token it = P->tok;
            node *w = mk(P, N_WITH, &it);
            w->line = t.line;
            w->a = parse_test(P);
            if (is_kw(P, "as")) {
                advance(P);
                w->b = parse_expr(P);
                check_target(P, w->b, false);
            }
            if (!outer) outer = w;
            else push(P, &cur->list, w);
            cur = w;
            if (!is_op(P, OPT_COMMA))
                break;
            advance(P);
        }
        parse_block(P, &cur->list, &t, "'with' statement");
        return outer;
    }
    if (is_kw(P, "async") || is_kw(P, "await"))
        fail_at(P, t.line, t.col, "'%.*s' is not supported yet", (int)t.len, t.start);
    if (is_kw(P, "else") || is_kw(P, "elif") || is_kw(P, "except") || is_kw(P, "finally"))
        syntax_error(P);
    if (is_op(P, OPT_AT)) {
        nodelist decorators = {0};
        while (is_op(P, OPT_AT)) {
            advance(P);
            push(P, &decorators, parse_test(P));
            if (P->tok.kind != T_NEWLINE)
                syntax_error(P);
            advance(P);
        }
        if (!is_kw(P, "def") && !is_kw(P, "class"))
            fail_at(P, P->tok.line, P->tok.col, "invalid syntax");
        node *d = parse_statement(P);
        d->list4 = decorators;
        return d;
    }
    nodelist line = {0};
    parse_simple_line(P, &line);
    if (line.n == 1)
        return line.v[0];
    node *blk = mk(P, N_IF, &t);   /* several statements on one line: if True: ... */
    blk->a = mk(P, N_CONST_TRUE, &t);
    blk->list = line;
    return blk;
}

int parse_module(const char *src, const char *filename, parse_result *out)
{
    memset(out, 0, sizeof *out);
    out->arena = arena_new();
    if (!out->arena)
        return -2;
    parser *P = calloc(1, sizeof *P);
    if (!P)
        return -2;
    P->ar = out->arena;
    P->errmsg = out->errmsg;
    P->errsize = sizeof out->errmsg;
    P->errline = &out->errline;
    P->errcol = &out->errcol;
    lexer_init(&P->lx, src, filename, P->ar);
    if (setjmp(P->fail)) {
        int r = P->oom ? -2 : -1;
        free(P);
        return r;
    }
    advance(P);
    token t0 = P->tok;
    node *mod = mk(P, N_MODULE, &t0);
    while (P->tok.kind != T_EOF) {
        if (P->tok.kind == T_DEDENT) {
            advance(P);
            continue;
        }
        node *s = parse_statement(P);
        if (s)
            push(P, &mod->list, s);
    }
    out->module = mod;
    free(P);
    return 0;
}

node *parse_fstring_expr(arena *ar, const char *src, size_t len, const char *filename, int line,
                         int col, char *errmsg, size_t errsize, int *errline, int *errcol)
{
    /* the expression text, in parentheses so that newlines inside are ignored */
    char *text = arena_alloc(ar, len + 3);
    if (!text) {
        snprintf(errmsg, errsize, "out of memory");
        *errline = line;
        *errcol = col;
        return NULL;
    }
    text[0] = '(';
    memcpy(text + 1, src, len);
    text[len + 1] = ')';
    parser *P = calloc(1, sizeof *P);
    if (!P) {
        snprintf(errmsg, errsize, "out of memory");
        return NULL;
    }
    P->ar = ar;
    P->errmsg = errmsg;
    P->errsize = errsize;
    P->errline = errline;
    P->errcol = errcol;
    P->line_off = line - 1;
    P->col_off = col - 1;
    lexer_init(&P->lx, text, filename, ar);
    if (setjmp(P->fail)) {
        if (strncmp(errmsg, "f-string", 8) != 0) {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "f-string: %s", errmsg);
            snprintf(errmsg, errsize, "%s", tmp);
        }
        free(P);
        return NULL;
    }
    advance(P);
    node *e = parse_testlist(P, false);
    if (P->tok.kind != T_NEWLINE && P->tok.kind != T_EOF)
        syntax_error(P);
    free(P);
    return e;
}
