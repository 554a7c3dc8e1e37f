/* interp/compiler.c - AST to bytecode.
 *
 * Owns: scope analysis (a function's locals are its parameters and every name it binds, less
 * those it declares global; module code binds globals; a nested function reading an enclosing
 * function's local is refused until closures land), code generation for every statement and
 * expression of the subset, the control-flow bookkeeping of break/continue/return through
 * try/finally (the finally body is emitted again on each exit path, as CPython 3.9+ does),
 * exception handlers (the exception lives in a hidden local while its handler runs, so a bare
 * `raise` re-raises it), and the stack-depth analysis that sizes each frame.
 * Errors (SyntaxError-class problems found after parsing, out of memory) leave through a longjmp
 * that releases every object the unfinished code units hold.
 */
#include "interp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { CTX_WHILE, CTX_FOR, CTX_TRY, CTX_FINALLY, CTX_HANDLER, CTX_WITH };
typedef struct ctx {
    int kind;
    int continue_target;
    int *breaks; int nbreaks, capbreaks;
    node *finally_body;     /* CTX_FINALLY */
    int hidden;             /* CTX_HANDLER: the exception's slot */
} ctx;

typedef struct cunit {
    struct cunit *outer;
    uint32_t *code; int32_t *lines; size_t n, cap;
    tally_object *consts;   /* list */
    tally_object *names;    /* list of str */
    char **locals; int nlocals, caplocals;
    char **globals; int nglobals;
    char **nonlocals; int nnonlocals;
    char **cells; int ncells;      /* locals captured by nested functions (their slots hold cells) */
    char **frees; int nfrees;      /* names of enclosing functions this unit reads or writes */
    struct { const char *name; int slot; } renames[64];   /* comprehension variables */
    int nrenames;
    int nargs;
    int nkwonly, pflags;
    bool is_module;
    bool is_class;
    bool is_generator;      /* a yield was compiled in it */
    int in_comp;            /* inside an inlined list/set/dict comprehension */
    int line;
    ctx ctxs[64]; int nctx;
    const char *name;
    const char *qualname;
    int firstline;
    uint32_t ncaches;
} cunit;

typedef struct compiler {
    jmp_buf fail;
    char *errmsg; size_t errsize; int *errline, *errcol;
    const char *filename, *source;
    tally_object *filename_obj;
    cunit *cu;
    arena *ar;
    bool oom;
} compiler;

static void cfail(compiler *C, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5), noreturn));
static void cfail(compiler *C, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(C->errmsg, C->errsize, fmt, ap);
    va_end(ap);
    *C->errline = line;
    *C->errcol = col;
    longjmp(C->fail, 1);
}
static void coom(compiler *C) __attribute__((noreturn));
static void coom(compiler *C)
{
    C->oom = true;
    snprintf(C->errmsg, C->errsize, "out of memory");
    longjmp(C->fail, 1);
}

static void cu_free(cunit *u)
{
    free(u->code);
    free(u->lines);
    tally_xdecref(u->consts);
    tally_xdecref(u->names);
    free(u->locals);
    free(u->globals);
    free(u->nonlocals);
    free(u->cells);
    free(u->frees);
    for (int i = 0; i < u->nctx; i++)
        free(u->ctxs[i].breaks);
    free(u);
}

static int emit(compiler *C, int op, int64_t arg)
{
    cunit *u = C->cu;
    if (arg < 0 || arg >= (1 << 24))
        cfail(C, u->line, 1, "too many constants, names or jump targets in one code object");
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 64;
        uint32_t *c = realloc(u->code, cap * sizeof *c);
        if (!c) coom(C);
        u->code = c;
        int32_t *l = realloc(u->lines, cap * sizeof *l);
        if (!l) coom(C);
        u->lines = l;
        u->cap = cap;
    }
    u->code[u->n] = INSTR(op, arg);
    u->lines[u->n] = u->line;
    if (op == OP_LOAD_GLOBAL)
        u->ncaches++;
    return (int)u->n++;
}
static int here(compiler *C) { return (int)C->cu->n; }
static void patch(compiler *C, int at, int target)
{
    uint32_t op = C->cu->code[at] & 0xFF;
    C->cu->code[at] = INSTR(op, target);
}

static int add_const(compiler *C, tally_object *o)   /* steals o */
{
    if (!o) coom(C);
    tally_object *l = C->cu->consts;
    size_t n = tally_list_len(l);
    if (tally_list_append(l, o) < 0) {
        tally_decref(o);
        coom(C);
    }
    tally_decref(o);
    return (int)n;
}

static int add_name(compiler *C, const char *s)
{
    tally_object *l = C->cu->names;
    size_t n = tally_list_len(l);
    for (size_t i = 0; i < n; i++) {
        tally_object *name = tally_list_get(l, i);
        bool same = name && strcmp(tally_str_value(name), s) == 0;
        tally_xdecref(name);
        if (same)
            return (int)i;
    }
    tally_object *o = tally_str_new(s);
    if (!o) coom(C);
    if (tally_list_append(l, o) < 0) {
        tally_decref(o);
        coom(C);
    }
    tally_decref(o);
    return (int)n;
}

static int find_local(cunit *u, const char *s)
{
    for (int i = 0; i < u->nlocals; i++)
        if (strcmp(u->locals[i], s) == 0)
            return i;
    return -1;
}
static int add_local(compiler *C, const char *s)
{
    cunit *u = C->cu;
    int i = find_local(u, s);
    if (i >= 0) return i;
    if (u->nlocals == u->caplocals) {
        int cap = u->caplocals ? u->caplocals * 2 : 8;
        char **l = realloc(u->locals, sizeof(char *) * (size_t)cap);
        if (!l) coom(C);
        u->locals = l;
        u->caplocals = cap;
    }
    u->locals[u->nlocals] = (char *)s;
    return u->nlocals++;
}
static int new_hidden(compiler *C, const char *prefix)
{
    char *s = arena_alloc(C->ar, 24);
    if (!s) coom(C);
    snprintf(s, 24, "$%s%d", prefix, C->cu->nlocals);
    return add_local(C, s);
}
static bool is_global_decl(cunit *u, const char *s)
{
    for (int i = 0; i < u->nglobals; i++)
        if (strcmp(u->globals[i], s) == 0)
            return true;
    return false;
}

static bool in_list(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}
static bool is_declared(cunit *u, const char *s)
{
    return is_global_decl(u, s) || in_list(u->nonlocals, u->nnonlocals, s);
}
static void list_add(compiler *C, char ***v, int *n, const char *s)
{
    if (in_list(*v, *n, s))
        return;
    char **nv = realloc(*v, sizeof(char *) * (size_t)(*n + 1));
    if (!nv) coom(C);
    *v = nv;
    nv[(*n)++] = (char *)s;
}

/* ---- scope analysis -------------------------------------------------------------------------- */
static void bind_target(compiler *C, node *t)
{
    switch (t->kind) {
    case N_NAME:
        if (!is_declared(C->cu, t->str))
            add_local(C, t->str);
        break;
    case N_TUPLE: case N_LIST:
        for (int i = 0; i < t->list.n; i++)
            bind_target(C, t->list.v[i]);
        break;
    case N_STARRED:
        bind_target(C, t->a);
        break;
    default:
        break;
    }
}

static void collect_globals(compiler *C, nodelist *body)
{
    for (int i = 0; i < body->n; i++) {
        node *s = body->v[i];
        switch (s->kind) {
        case N_NONLOCAL:
            for (int k = 0; k < s->nnames; k++)
                list_add(C, &C->cu->nonlocals, &C->cu->nnonlocals, s->names[k]);
            break;
        case N_GLOBAL: {
            cunit *u = C->cu;
            char **g = realloc(u->globals, sizeof(char *) * (size_t)(u->nglobals + s->nnames));
            if (!g) coom(C);
            u->globals = g;
            for (int k = 0; k < s->nnames; k++) {
                if (find_local(u, s->names[k]) >= 0 && find_local(u, s->names[k]) < u->nargs)
                    cfail(C, s->line, s->col, "name '%s' is parameter and global", s->names[k]);
                u->globals[u->nglobals++] = s->names[k];
            }
            break;
        }
        case N_IF: case N_WHILE: case N_FOR: case N_WITH:
            collect_globals(C, &s->list);
            collect_globals(C, &s->list2);
            break;
        case N_TRY:
            collect_globals(C, &s->list);
            for (int k = 0; k < s->list2.n; k++)
                collect_globals(C, &s->list2.v[k]->list);
            collect_globals(C, &s->list3);
            collect_globals(C, &s->list4);
            break;
        default:
            break;
        }
    }
}

static void collect_locals(compiler *C, nodelist *body)
{
    for (int i = 0; i < body->n; i++) {
        node *s = body->v[i];
        switch (s->kind) {
        case N_ASSIGN:
            for (int k = 0; k < s->list.n; k++)
                bind_target(C, s->list.v[k]);
            break;
        case N_AUGASSIGN:
            bind_target(C, s->a);
            break;
        case N_FOR:
            bind_target(C, s->a);
            collect_locals(C, &s->list);
            collect_locals(C, &s->list2);
            break;
        case N_IF: case N_WHILE:
            collect_locals(C, &s->list);
            collect_locals(C, &s->list2);
            break;
        case N_WITH:
            if (s->b) bind_target(C, s->b);
            collect_locals(C, &s->list);
            break;
        case N_DEF: case N_CLASS:
            if (!is_declared(C->cu, s->str))
                add_local(C, s->str);
            break;
        case N_IMPORT:
            if (!is_declared(C->cu, s->names[0]))
                add_local(C, s->names[0]);
            break;
        case N_FROMIMPORT:
            for (int k = 0; k < s->nnames; k++) {
                const char *nm = s->names2[k] ? s->names2[k] : s->names[k];
                if (!is_declared(C->cu, nm))
                    add_local(C, nm);
            }
            break;
        case N_DEL:
            for (int k = 0; k < s->list.n; k++)
                bind_target(C, s->list.v[k]);
            break;
        case N_TRY:
            collect_locals(C, &s->list);
            for (int k = 0; k < s->list2.n; k++) {
                node *h = s->list2.v[k];
                if (h->str && !is_declared(C->cu, h->str))
                    add_local(C, h->str);
                collect_locals(C, &h->list);
            }
            collect_locals(C, &s->list3);
            collect_locals(C, &s->list4);
            break;
        default:
            break;
        }
    }
}

/* Free names of a function-like node (N_DEF, N_LAMBDA, N_CLASS): the names its body (and the
 * bodies nested in it) use without binding them or declaring them global, plus its nonlocals. */
static void scope_free(compiler *C, node *n, char ***out, int *nout);

/* names used in a subtree, in the current scope (nested scopes contribute their free names);
 * nested_only: only what nested scopes contribute */
static void walk_uses(compiler *C, node *e, char ***out, int *nout, bool nested_only)
{
    if (!e)
        return;
    if (py_c_stack_exhausted()) {
        py_err_clear();
        cfail(C, e->line, e->col, "expression too deeply nested");
    }
    switch (e->kind) {
    case N_NAME:
        if (!nested_only) list_add(C, out, nout, e->str);
        return;
    case N_DEF: case N_LAMBDA:
        for (int i = 0; i < e->list.n; i++) walk_uses(C, e->list.v[i], out, nout, nested_only);
        for (int i = 0; i < e->list3.n; i++) walk_uses(C, e->list3.v[i], out, nout, nested_only);
        for (int i = 0; i < e->list4.n; i++) walk_uses(C, e->list4.v[i], out, nout, nested_only);
        scope_free(C, e, out, nout);
        return;
    case N_CLASS:
        walk_uses(C, e->a, out, nout, nested_only);
        for (int i = 0; i < e->list4.n; i++) walk_uses(C, e->list4.v[i], out, nout, nested_only);
        scope_free(C, e, out, nout);
        return;
    case N_GENEXP:
        /* its first iterable is evaluated here; the rest is its own scope */
        walk_uses(C, e->list.v[0]->b, out, nout, nested_only);
        scope_free(C, e, out, nout);
        return;
    default:
        break;
    }
    walk_uses(C, e->a, out, nout, nested_only);
    walk_uses(C, e->b, out, nout, nested_only);
    walk_uses(C, e->c, out, nout, nested_only);
    nodelist *ls[4] = { &e->list, &e->list2, &e->list3, &e->list4 };
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < ls[k]->n; i++) walk_uses(C, ls[k]->v[i], out, nout, nested_only);
}

/* what a generator expression's own scope uses: everything but its first iterable */
static void genexp_uses(compiler *C, node *g, char ***out, int *nout, bool nested_only)
{
    walk_uses(C, g->a, out, nout, nested_only);
    for (int i = 0; i < g->list.n; i++) {
        node *cl = g->list.v[i];
        walk_uses(C, cl->a, out, nout, nested_only);
        if (i > 0) walk_uses(C, cl->b, out, nout, nested_only);
        for (int k = 0; k < cl->list.n; k++) walk_uses(C, cl->list.v[k], out, nout, nested_only);
    }
}

/* a scratch unit holding what n binds (parameters, locals, globals, nonlocals) */
static cunit *scratch_scope(compiler *C, node *n)
{
    cunit *u = calloc(1, sizeof *u);
    if (!u) coom(C);
    u->outer = C->cu;
    C->cu = u;
    if (n->kind == N_DEF || n->kind == N_LAMBDA)
        for (int i = 0; i < n->nnames; i++) add_local(C, n->names[i]);
    if (n->kind == N_GENEXP) {
        add_local(C, ".0");
        for (int i = 0; i < n->list.n; i++) bind_target(C, n->list.v[i]->a);
    }
    nodelist *body = n->kind == N_DEF ? &n->list2 : n->kind == N_CLASS ? &n->list : NULL;
    if (body) {
        collect_globals(C, body);
        collect_locals(C, body);
    }
    C->cu = u->outer;
    return u;
}

static void scope_free(compiler *C, node *n, char ***out, int *nout)
{
    cunit *u = scratch_scope(C, n);
    char **uses = NULL;
    int nuses = 0;
    cunit *saved = C->cu;
    C->cu = u;   /* so that a longjmp frees u through the unit chain */
    if (n->kind == N_LAMBDA) walk_uses(C, n->a, &uses, &nuses, false);
    if (n->kind == N_GENEXP) genexp_uses(C, n, &uses, &nuses, false);
    nodelist *body = n->kind == N_DEF ? &n->list2 : n->kind == N_CLASS ? &n->list : NULL;
    if (body)
        for (int i = 0; i < body->n; i++) walk_uses(C, body->v[i], &uses, &nuses, false);
    C->cu = saved;
    for (int i = 0; i < nuses; i++)
        if (find_local(u, uses[i]) < 0 && !is_declared(u, uses[i]))
            list_add(C, out, nout, uses[i]);
    for (int i = 0; i < u->nnonlocals; i++)
        list_add(C, out, nout, u->nonlocals[i]);
    free(uses);
    cu_free(u);
}

/* Is `name`, free in the current unit, a cell or free variable of an enclosing function? */
static bool resolves_to_enclosing(compiler *C, const char *name)
{
    for (cunit *u = C->cu->outer; u; u = u->outer) {
        if (u->is_module)
            return false;
        if (u->is_class)
            continue;   /* a class body's names are not visible to its methods */
        if (in_list(u->cells, u->ncells, name) || in_list(u->frees, u->nfrees, name))
            return true;
        if (find_local(u, name) >= 0 || is_global_decl(u, name))
            return false;
    }
    return false;
}

/* For the unit just opened for n (its locals collected): its free variables, its cells, and the
 * instructions that turn each captured parameter or local into a cell at entry. */
static void setup_closure(compiler *C, node *n)
{
    cunit *u = C->cu;
    char **names = NULL;
    int nn = 0;
    scope_free(C, n, &names, &nn);
    for (int i = 0; i < nn; i++)
        if (resolves_to_enclosing(C, names[i]))
            list_add(C, &u->frees, &u->nfrees, names[i]);
    free(names);
    for (int i = 0; i < u->nnonlocals; i++)
        if (!in_list(u->frees, u->nfrees, u->nonlocals[i]))
            cfail(C, n->line, n->col, "no binding for nonlocal '%s' found", u->nonlocals[i]);
    if (u->is_class)
        return;
    char **inner = NULL;
    int ni = 0;
    nodelist *body = n->kind == N_DEF ? &n->list2 : NULL;
    if (n->kind == N_LAMBDA) walk_uses(C, n->a, &inner, &ni, true);
    if (n->kind == N_GENEXP) genexp_uses(C, n, &inner, &ni, true);
    if (body)
        for (int i = 0; i < body->n; i++) walk_uses(C, body->v[i], &inner, &ni, true);
    for (int i = 0; i < ni; i++)
        if (find_local(u, inner[i]) >= 0 && !is_declared(u, inner[i]) && !in_list(u->frees, u->nfrees, inner[i]))
            list_add(C, &u->cells, &u->ncells, inner[i]);
    free(inner);
    for (int i = 0; i < u->nfrees; i++) add_local(C, u->frees[i]);
    for (int i = 0; i < u->ncells; i++) emit(C, OP_MAKE_CELL, find_local(u, u->cells[i]));
}

/* ---- expressions ----------------------------------------------------------------------------- */
static void compile_expr(compiler *C, node *e);
static void compile_body(compiler *C, nodelist *body);
static tally_object *finish_unit(compiler *C);
static void compile_class(compiler *C, node *s);
static void compile_function(compiler *C, node *s);
static cunit *open_unit(compiler *C, const char *name, node *at);
static int close_unit(compiler *C, int line);

static int renamed(cunit *u, const char *s)
{
    for (int i = u->nrenames - 1; i >= 0; i--)
        if (strcmp(u->renames[i].name, s) == 0)
            return u->renames[i].slot;
    return -1;
}
static bool is_deref(cunit *u, const char *s)
{
    return in_list(u->cells, u->ncells, s) || in_list(u->frees, u->nfrees, s);
}

static void load_name(compiler *C, node *e)
{
    cunit *u = C->cu;
    int r = renamed(u, e->str);
    if (r >= 0) {
        emit(C, OP_LOAD_FAST, r);
        return;
    }
    if (is_deref(u, e->str)) {
        emit(C, OP_LOAD_DEREF, find_local(u, e->str));
        return;
    }
    if (u->is_class && !is_global_decl(u, e->str)) {
        emit(C, OP_LOAD_NAME_CLASS, add_name(C, e->str));
        return;
    }
    if (!u->is_module && !u->is_class) {
        int i = find_local(u, e->str);
        if (i >= 0) {
            emit(C, OP_LOAD_FAST, i);
            return;
        }
    }
    emit(C, OP_LOAD_GLOBAL, add_name(C, e->str));
}

static void store_name(compiler *C, const char *s)
{
    cunit *u = C->cu;
    int r = renamed(u, s);
    if (r >= 0) {
        emit(C, OP_STORE_FAST, r);
        return;
    }
    if (is_deref(u, s)) {
        emit(C, OP_STORE_DEREF, find_local(u, s));
        return;
    }
    if (u->is_class && !is_global_decl(u, s)) {
        emit(C, OP_STORE_NAME_CLASS, add_name(C, s));
        return;
    }
    if (!u->is_module && !u->is_class) {
        int i = find_local(u, s);
        if (i >= 0) {
            emit(C, OP_STORE_FAST, i);
            return;
        }
    }
    emit(C, OP_STORE_GLOBAL, add_name(C, s));
}

static void compile_store(compiler *C, node *t)
{
    int saved = C->cu->line;
    C->cu->line = t->line;
    switch (t->kind) {
    case N_NAME:
        store_name(C, t->str);
        break;
    case N_ATTR:
        compile_expr(C, t->a);
        emit(C, OP_STORE_ATTR, add_name(C, t->str));
        break;
    case N_SUBSCRIPT:
        compile_expr(C, t->a);
        compile_expr(C, t->b);
        emit(C, OP_STORE_SUBSCR, 0);
        break;
    case N_TUPLE: case N_LIST:
        emit(C, OP_UNPACK_SEQUENCE, t->list.n);
        for (int i = 0; i < t->list.n; i++)
            compile_store(C, t->list.v[i]);
        break;
    default:
        cfail(C, t->line, t->col, "cannot assign to expression");
    }
    C->cu->line = saved;
}

static void compile_jump_if(compiler *C, node *e, bool jump_if_true, int *patch_out)
{
    compile_expr(C, e);
    *patch_out = emit(C, jump_if_true ? OP_POP_JUMP_IF_TRUE : OP_POP_JUMP_IF_FALSE, 0);
}

static bool in_method(compiler *C)
{
    cunit *u = C->cu;
    return !u->is_module && !u->is_class && u->outer && u->outer->is_class && u->nargs > 0;
}

static void compile_call_ex(compiler *C, node *e)
{
    compile_expr(C, e->a);
    emit(C, OP_BUILD_LIST, 0);
    for (int i = 0; i < e->list.n; i++) {
        node *a = e->list.v[i];
        if (a->kind == N_STARRED) {
            compile_expr(C, a->a);
            C->cu->line = a->line;
            emit(C, OP_LIST_EXTEND, 1);
        } else {
            compile_expr(C, a);
            emit(C, OP_LIST_APPEND, 1);
        }
    }
    emit(C, OP_LIST_TO_TUPLE, 0);
    if (e->list2.n) {
        emit(C, OP_BUILD_DICT, 0);
        for (int i = 0; i < e->list2.n; i++) {
            node *k = e->list2.v[i];
            if (k->str) {
                emit(C, OP_LOAD_CONST, add_const(C, tally_str_new(k->str)));
                compile_expr(C, k->a);
                C->cu->line = k->line;
                emit(C, OP_DICT_SET, 1);
            } else {
                compile_expr(C, k->a);
                C->cu->line = k->line;
                emit(C, OP_DICT_MERGE, 1);
            }
        }
    }
    C->cu->line = e->line;
    emit(C, OP_CALL_FUNCTION_EX, e->list2.n ? 1 : 0);
}

static void compile_call(compiler *C, node *e)
{
    for (int i = 0; i < e->list.n; i++)
        if (e->list.v[i]->kind == N_STARRED) {
            compile_call_ex(C, e);
            return;
        }
    for (int i = 0; i < e->list2.n; i++)
        if (!e->list2.v[i]->str) {
            compile_call_ex(C, e);
            return;
        }
    if (e->a->kind == N_NAME && strcmp(e->a->str, "super") == 0 && e->list.n == 0 && e->list2.n == 0 &&
        in_method(C) && find_local(C->cu, "super") < 0) {
        load_name(C, e->a);
        C->cu->line = e->line;
        emit(C, OP_LOAD_OWNER_CLASS, 0);
        emit(C, OP_LOAD_FAST, 0);
        emit(C, OP_CALL, 2);
        return;
    }
    int nargs = e->list.n + e->list2.n;
    if (nargs > 255)
        cfail(C, e->line, e->col, "more than 255 arguments");
    bool method = e->a->kind == N_ATTR;
    if (method) {
        compile_expr(C, e->a->a);
        int saved = C->cu->line;
        C->cu->line = e->a->line;
        emit(C, OP_LOAD_METHOD, add_name(C, e->a->str));
        C->cu->line = saved;
    } else {
        compile_expr(C, e->a);
    }
    for (int i = 0; i < e->list.n; i++)
        compile_expr(C, e->list.v[i]);
    for (int i = 0; i < e->list2.n; i++)
        compile_expr(C, e->list2.v[i]->a);
    C->cu->line = e->line;
    if (e->list2.n) {
        tally_object *names[256];
        for (int i = 0; i < e->list2.n; i++) {
            names[i] = tally_str_new(e->list2.v[i]->str);
            if (!names[i]) {
                for (int k = 0; k < i; k++) tally_decref(names[k]);
                coom(C);
            }
        }
        tally_object *tup = tally_tuple_new((size_t)e->list2.n, names);
        for (int i = 0; i < e->list2.n; i++) tally_decref(names[i]);
        int k = add_const(C, tup);
        if (k >= 65536)
            cfail(C, e->line, e->col, "too many constants");
        emit(C, method ? OP_CALL_METHOD_KW : OP_CALL_KW, nargs | (k << 8));
    } else {
        emit(C, method ? OP_CALL_METHOD : OP_CALL, nargs);
    }
}

static void compile_fstring(compiler *C, node *e)
{
    int n = 0;
    for (int i = 0; i < e->list.n; i++) {
        node *p = e->list.v[i];
        if (p->kind == N_CONST_STR) {
            if (!p->slen) continue;
            emit(C, OP_LOAD_CONST, add_const(C, tally_str_new(p->str)));
        } else {
            compile_expr(C, p->a);
            int flags = p->op == 'r' ? 1 : p->op == 's' ? 2 : p->op == 'a' ? 1 : 0;
            if (p->b) {
                compile_fstring(C, p->b);
                flags |= 4;
            }
            emit(C, OP_FORMAT_VALUE, flags);
        }
        n++;
    }
    if (n == 1 && e->list.n == 1 && e->list.v[0]->kind == N_CONST_STR)
        return;
    if (n == 0)
        emit(C, OP_LOAD_CONST, add_const(C, tally_str_new("")));
    else if (n > 1 || e->list.v[0]->kind != N_FIELD)
        emit(C, OP_BUILD_STRING, n);
}

/* Clause i of a comprehension and what it encloses: FOR_ITER over the iterator on the stack
 * (the first one is pushed by the caller, or is the argument .0 of a generator expression), the
 * target, the conditions, then the next clause or the element (appended to the result, which
 * sits below the i + 1 iterators, or yielded). */
static void compile_comp_clauses(compiler *C, node *e, int i, bool gen)
{
    node *cl = e->list.v[i];
    if (gen && i == 0) {
        emit(C, OP_LOAD_FAST, 0);
    } else if (i > 0) {
        compile_expr(C, cl->b);
        emit(C, OP_GET_ITER, 0);
    }
    int top = here(C);
    int exit_ = emit(C, OP_FOR_ITER, 0);
    compile_store(C, cl->a);
    int skips[64];
    if (cl->list.n > 64)
        cfail(C, cl->line, cl->col, "too many conditions in one comprehension clause");
    for (int k = 0; k < cl->list.n; k++)
        compile_jump_if(C, cl->list.v[k], false, &skips[k]);
    if (i + 1 < e->list.n) {
        compile_comp_clauses(C, e, i + 1, gen);
    } else if (gen) {
        compile_expr(C, e->a);
        emit(C, OP_YIELD_VALUE, 0);
        emit(C, OP_POP_TOP, 0);
    } else if (e->kind == N_DICTCOMP) {
        compile_expr(C, e->a);
        compile_expr(C, e->b);
        emit(C, OP_DICT_SET, i + 2);
    } else {
        compile_expr(C, e->a);
        emit(C, e->kind == N_SETCOMP ? OP_SET_ADD : OP_LIST_APPEND, i + 2);
    }
    for (int k = 0; k < cl->list.n; k++)
        patch(C, skips[k], here(C));
    emit(C, OP_JUMP_BACK, top);
    patch(C, exit_, here(C));
}

static void compile_expr(compiler *C, node *e)
{
    cunit *u = C->cu;
    if (py_c_stack_exhausted()) {
        py_err_clear();
        cfail(C, e->line, e->col, "expression too deeply nested");
    }
    int saved = u->line;
    u->line = e->line;
    switch (e->kind) {
    case N_NAME:
        load_name(C, e);
        break;
    case N_CONST_INT:
        emit(C, OP_LOAD_CONST, add_const(C, tally_int_new(e->ival)));
        break;
    case N_CONST_FLOAT: {
        tally_object *f = py_float_new(e->fval);
        if (!f) coom(C);
        emit(C, OP_LOAD_CONST, add_const(C, f));
        break;
    }
    case N_CONST_STR:
        emit(C, OP_LOAD_CONST, add_const(C, tally_str_new(e->str)));
        break;
    case N_CONST_TRUE:
        emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_True)));
        break;
    case N_CONST_FALSE:
        emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_False)));
        break;
    case N_CONST_NONE:
        emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
        break;
    case N_FSTRING:
        compile_fstring(C, e);
        break;
    case N_BINOP:
        compile_expr(C, e->a);
        compile_expr(C, e->b);
        u->line = e->line;
        emit(C, OP_BINARY_OP, e->op);
        break;
    case N_UNARY:
        compile_expr(C, e->a);
        emit(C, OP_UNARY_OP, e->op);
        break;
    case N_BOOLOP: {
        int patches[512];
        int np = 0;
        for (int i = 0; i < e->list.n; i++) {
            compile_expr(C, e->list.v[i]);
            if (i < e->list.n - 1) {
                int p = emit(C, e->op ? OP_JUMP_IF_TRUE_OR_POP : OP_JUMP_IF_FALSE_OR_POP, 0);
                if (np < 512) patches[np++] = p;
                else cfail(C, e->line, e->col, "too many operands in a boolean expression");
            }
        }
        for (int i = 0; i < np; i++)
            patch(C, patches[i], here(C));
        break;
    }
    case N_COMPARE: {
        /* a < b < c: a, b, DUP, ROT3, CMP, JUMP_IF_FALSE_OR_POP cleanup, c, CMP, JUMP end,
         * cleanup: ROT2, POP_TOP, end: */
        compile_expr(C, e->a);
        int n = e->list.n;
        int cleanup[256];
        int nc = 0;
        if (n > 256)
            cfail(C, e->line, e->col, "comparison chain too long");
        for (int i = 0; i < n; i++) {
            compile_expr(C, e->list.v[i]);
            u->line = e->line;
            if (i < n - 1) {
                emit(C, OP_DUP_TOP, 0);
                emit(C, OP_ROT_THREE, 0);
            }
            int op = e->ops[i];
            if (op <= CMP_GE) emit(C, OP_COMPARE_OP, op);
            else if (op == CMPX_IS) emit(C, OP_IS_OP, 0);
            else if (op == CMPX_IS_NOT) emit(C, OP_IS_OP, 1);
            else if (op == CMPX_IN) emit(C, OP_CONTAINS_OP, 0);
            else emit(C, OP_CONTAINS_OP, 1);
            if (i < n - 1)
                cleanup[nc++] = emit(C, OP_JUMP_IF_FALSE_OR_POP, 0);
        }
        if (nc) {
            int j = emit(C, OP_JUMP, 0);
            for (int i = 0; i < nc; i++)
                patch(C, cleanup[i], here(C));
            emit(C, OP_ROT_TWO, 0);
            emit(C, OP_POP_TOP, 0);
            patch(C, j, here(C));
        }
        break;
    }
    case N_IFEXP: {
        int pf;
        compile_jump_if(C, e->a, false, &pf);
        compile_expr(C, e->b);
        int j = emit(C, OP_JUMP, 0);
        patch(C, pf, here(C));
        compile_expr(C, e->c);
        patch(C, j, here(C));
        break;
    }
    case N_CALL:
        compile_call(C, e);
        break;
    case N_ATTR:
        compile_expr(C, e->a);
        u->line = e->line;
        emit(C, OP_LOAD_ATTR, add_name(C, e->str));
        break;
    case N_SUBSCRIPT:
        compile_expr(C, e->a);
        compile_expr(C, e->b);
        u->line = e->line;
        emit(C, OP_BINARY_SUBSCR, 0);
        break;
    case N_SLICE:
        if (e->a) compile_expr(C, e->a); else emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
        if (e->b) compile_expr(C, e->b); else emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
        if (e->c) compile_expr(C, e->c); else emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
        emit(C, OP_BUILD_SLICE, 3);
        break;
    case N_TUPLE: case N_LIST:
        for (int i = 0; i < e->list.n; i++) {
            if (e->list.v[i]->kind == N_STARRED)
                cfail(C, e->list.v[i]->line, e->list.v[i]->col, "starred expressions in displays are not supported yet");
            compile_expr(C, e->list.v[i]);
        }
        u->line = e->line;
        emit(C, e->kind == N_TUPLE ? OP_BUILD_TUPLE : OP_BUILD_LIST, e->list.n);
        break;
    case N_SET:
        for (int i = 0; i < e->list.n; i++)
            compile_expr(C, e->list.v[i]);
        u->line = e->line;
        emit(C, OP_BUILD_SET, e->list.n);
        break;
    case N_DICT:
        for (int i = 0; i < e->list.n; i++) {
            compile_expr(C, e->list.v[i]);
            compile_expr(C, e->list2.v[i]);
        }
        u->line = e->line;
        emit(C, OP_BUILD_DICT, e->list.n);
        break;
    case N_LISTCOMP: case N_SETCOMP: case N_DICTCOMP: {
        /* inlined (as CPython 3.12 does): the result, then one iterator per clause, on the
         * stack; the first iterable is evaluated in the enclosing scope, and the loop variables
         * live in hidden slots, so Python 3 comprehensions do not leak them */
        emit(C, e->kind == N_LISTCOMP ? OP_BUILD_LIST : e->kind == N_SETCOMP ? OP_BUILD_SET : OP_BUILD_DICT, 0);
        compile_expr(C, e->list.v[0]->b);
        emit(C, OP_GET_ITER, 0);
        int saved_renames = u->nrenames;
        char **tnames = NULL;
        int ntn = 0;
        for (int i = 0; i < e->list.n; i++)
            walk_uses(C, e->list.v[i]->a, &tnames, &ntn, false);
        for (int i = 0; i < ntn; i++) {
            if (u->nrenames >= 64) {
                free(tnames);
                cfail(C, e->line, e->col, "too many nested comprehension variables");
            }
            int slot = new_hidden(C, "comp");
            u->renames[u->nrenames].name = tnames[i];
            u->renames[u->nrenames].slot = slot;
            u->nrenames++;
        }
        free(tnames);
        u->in_comp++;
        compile_comp_clauses(C, e, 0, false);
        u->in_comp--;
        u->nrenames = saved_renames;
        break;
    }
    case N_GENEXP: {
        /* a generator function of one argument (.0, the first iterable's iterator), called at once */
        compile_expr(C, e->list.v[0]->b);
        emit(C, OP_GET_ITER, 0);
        cunit *g = open_unit(C, "<genexpr>", e);
        add_local(C, ".0");
        g->nargs = 1;
        g->is_generator = true;
        for (int i = 0; i < e->list.n; i++) bind_target(C, e->list.v[i]->a);
        setup_closure(C, e);
        compile_comp_clauses(C, e, 0, true);
        int flags = close_unit(C, e->line);
        emit(C, OP_MAKE_FUNCTION, flags);
        emit(C, OP_ROT_TWO, 0);
        emit(C, OP_CALL, 1);
        break;
    }
    case N_YIELD:
        if (u->is_module || u->is_class)
            cfail(C, e->line, e->col, "'yield' outside function");
        if (u->in_comp)
            cfail(C, e->line, e->col, "'yield' inside %s", e->kind == N_SETCOMP ? "set comprehension" : "list comprehension");
        u->is_generator = true;
        if (e->a) compile_expr(C, e->a);
        else emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
        u->line = e->line;
        emit(C, OP_YIELD_VALUE, 0);
        break;
    case N_LAMBDA:
        compile_function(C, e);
        break;
    case N_STARRED:
        cfail(C, e->line, e->col, "can't use starred expression here");
    default:
        cfail(C, e->line, e->col, "this expression is not supported yet");
    }
    u->line = saved;
}

/* ---- statements ------------------------------------------------------------------------------ */
static ctx *push_ctx(compiler *C, int kind, node *at)
{
    cunit *u = C->cu;
    if (u->nctx >= 64)
        cfail(C, at->line, at->col, "too many statically nested blocks");
    ctx *c = &u->ctxs[u->nctx++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    return c;
}
static void pop_ctx(compiler *C)
{
    cunit *u = C->cu;
    ctx *c = &u->ctxs[--u->nctx];
    free(c->breaks);
    c->breaks = NULL;
}
static void add_break(compiler *C, ctx *c, int at)
{
    if (c->nbreaks == c->capbreaks) {
        int cap = c->capbreaks ? c->capbreaks * 2 : 4;
        int *b = realloc(c->breaks, sizeof(int) * (size_t)cap);
        if (!b) coom(C);
        c->breaks = b;
        c->capbreaks = cap;
    }
    c->breaks[c->nbreaks++] = at;
}

/* Emit what leaving the contexts above index `to` needs (to = -1: all of them, for return). */
static void unwind_to(compiler *C, int to, bool popping_for_loop_too)
{
    cunit *u = C->cu;
    for (int i = u->nctx - 1; i > to; i--) {
        ctx *c = &u->ctxs[i];
        switch (c->kind) {
        case CTX_TRY:
            emit(C, OP_POP_BLOCK, 0);
            break;
        case CTX_FINALLY: {
            emit(C, OP_POP_BLOCK, 0);
            /* the finally body runs outside this context */
            /* the finally body runs outside this context: save the entries from i up, which
             * its own blocks may overwrite, and put them back */
            int saved = u->nctx;
            ctx copy[64];
            node *fin = c->finally_body;
            memcpy(copy + i, u->ctxs + i, sizeof(ctx) * (size_t)(saved - i));
            u->nctx = i;
            compile_body(C, &fin->list3);
            memcpy(u->ctxs + i, copy + i, sizeof(ctx) * (size_t)(saved - i));
            u->nctx = saved;
            break;
        }
        case CTX_HANDLER:
            emit(C, OP_DELETE_FAST, c->hidden);
            break;
        case CTX_WITH:
            /* leaving a with block by break/continue/return: __exit__(None, None, None) */
            emit(C, OP_POP_BLOCK, 0);
            emit(C, OP_LOAD_FAST, c->hidden);
            emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
            emit(C, OP_DUP_TOP, 0);
            emit(C, OP_DUP_TOP, 0);
            emit(C, OP_CALL, 3);
            emit(C, OP_POP_TOP, 0);
            emit(C, OP_DELETE_FAST, c->hidden);
            break;
        default:
            break;
        }
    }
    (void)popping_for_loop_too;
}

static int innermost_loop(cunit *u)
{
    for (int i = u->nctx - 1; i >= 0; i--)
        if (u->ctxs[i].kind == CTX_WHILE || u->ctxs[i].kind == CTX_FOR)
            return i;
    return -1;
}

static void compile_stmt(compiler *C, node *s);

static void compile_body(compiler *C, nodelist *body)
{
    for (int i = 0; i < body->n; i++)
        compile_stmt(C, body->v[i]);
}

static cunit *open_unit(compiler *C, const char *name, node *at)
{
    cunit *u = calloc(1, sizeof *u);
    if (!u) coom(C);
    u->outer = C->cu;
    u->name = name;
    /* CPython's __qualname__: C.m for a method, f.<locals>.g for a nested function */
    cunit *o = u->outer;
    if (o && !o->is_module && o->qualname) {
        size_t n = strlen(o->qualname) + strlen(name) + sizeof ".<locals>.";
        char *q = arena_alloc(C->ar, n);
        if (!q) {
            free(u);
            coom(C);
        }
        snprintf(q, n, "%s%s%s", o->qualname, o->is_class ? "." : ".<locals>.", name);
        u->qualname = q;
    } else {
        u->qualname = name;
    }
    u->firstline = at->line;
    u->line = at->line;
    C->cu = u;
    u->consts = tally_list_new();
    u->names = tally_list_new();
    if (!u->consts || !u->names) coom(C);
    return u;
}

/* Close the current unit: push its closure tuple (when it has free variables) and its code on
 * the enclosing unit's stack; returns the MAKE_FUNCTION closure flag (0 or 2). */
static int close_unit(compiler *C, int line)
{
    cunit *u = C->cu;
    emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
    emit(C, OP_RETURN_VALUE, 0);
    tally_object *code = finish_unit(C);
    C->cu = u->outer;
    C->cu->line = line;
    int nfrees = u->nfrees;
    char **frees = u->frees;
    u->frees = NULL;
    cu_free(u);
    if (!code) {
        free(frees);
        coom(C);
    }
    for (int i = 0; i < nfrees; i++)
        emit(C, OP_LOAD_CLOSURE, find_local(C->cu, frees[i]));
    free(frees);
    if (nfrees)
        emit(C, OP_BUILD_TUPLE, nfrees);
    emit(C, OP_LOAD_CONST, add_const(C, code));
    return nfrees ? 2 : 0;
}

static void compile_function(compiler *C, node *s)
{
    /* defaults, then the closure, then the code object, then MAKE_FUNCTION */
    bool lambda = s->kind == N_LAMBDA;
    for (int i = 0; i < s->list4.n; i++)   /* decorators, applied after the function is made */
        compile_expr(C, s->list4.v[i]);
    for (int i = 0; i < s->list.n; i++)
        compile_expr(C, s->list.v[i]);
    if (s->list.n)
        emit(C, OP_BUILD_TUPLE, s->list.n);
    int nkwdef = 0;
    for (int i = 0; i < s->list3.n; i++) {
        if (!s->list3.v[i]) continue;
        emit(C, OP_LOAD_CONST, add_const(C, tally_str_new(s->names[s->nposargs + i])));
        compile_expr(C, s->list3.v[i]);
        nkwdef++;
    }
    if (nkwdef)
        emit(C, OP_BUILD_DICT, nkwdef);
    cunit *u = open_unit(C, lambda ? "<lambda>" : s->str, s);
    for (int i = 0; i < s->nnames; i++)
        add_local(C, s->names[i]);
    u->nargs = s->nposargs;
    u->nkwonly = s->nkwonly;
    u->pflags = s->pflags;
    if (!lambda) {
        collect_globals(C, &s->list2);
        collect_locals(C, &s->list2);
    }
    setup_closure(C, s);
    if (lambda) {
        compile_expr(C, s->a);
        emit(C, OP_RETURN_VALUE, 0);
    } else {
        compile_body(C, &s->list2);
    }
    int flags = close_unit(C, s->line);
    emit(C, OP_MAKE_FUNCTION, (s->list.n ? 1 : 0) | (nkwdef ? 4 : 0) | flags);
    for (int i = 0; i < s->list4.n; i++)
        emit(C, OP_CALL, 1);
    if (!lambda)
        store_name(C, s->str);
}

static void compile_class(compiler *C, node *s)
{
    for (int i = 0; i < s->list4.n; i++)   /* decorators */
        compile_expr(C, s->list4.v[i]);
    cunit *u = open_unit(C, s->str, s);
    u->is_class = true;
    collect_globals(C, &s->list);
    setup_closure(C, s);
    compile_body(C, &s->list);
    int flags = close_unit(C, s->line);
    emit(C, OP_MAKE_FUNCTION, flags);
    emit(C, OP_LOAD_CONST, add_const(C, tally_str_new(s->str)));
    if (s->a) compile_expr(C, s->a);
    else emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
    C->cu->line = s->line;
    emit(C, OP_LOAD_BUILD_CLASS, 0);
    for (int i = 0; i < s->list4.n; i++)
        emit(C, OP_CALL, 1);
    store_name(C, s->str);
}

static void compile_try(compiler *C, node *s)
{
    cunit *u = C->cu;
    int fin_setup = -1;
    if (s->list3.n) {
        fin_setup = emit(C, OP_SETUP_EXCEPT, 0);
        ctx *f = push_ctx(C, CTX_FINALLY, s);
        f->finally_body = s;
    }
    if (s->list2.n) {
        int setup = emit(C, OP_SETUP_EXCEPT, 0);
        push_ctx(C, CTX_TRY, s);
        compile_body(C, &s->list);
        pop_ctx(C);
        emit(C, OP_POP_BLOCK, 0);
        compile_body(C, &s->list4);
        int ends[256];
        int ne = 0;
        ends[ne++] = emit(C, OP_JUMP, 0);
        patch(C, setup, here(C));
        int hid = new_hidden(C, "exc");
        u->line = s->list2.v[0]->line;
        emit(C, OP_STORE_FAST, hid);
        for (int i = 0; i < s->list2.n; i++) {
            node *h = s->list2.v[i];
            u->line = h->line;
            int next = -1;
            if (h->a) {
                emit(C, OP_LOAD_FAST, hid);
                compile_expr(C, h->a);
                emit(C, OP_CHECK_EXC_MATCH, 0);
                next = emit(C, OP_POP_JUMP_IF_FALSE, 0);
            }
            if (h->str) {
                emit(C, OP_LOAD_FAST, hid);
                store_name(C, h->str);
            }
            ctx *hc = push_ctx(C, CTX_HANDLER, h);
            hc->hidden = hid;
            compile_body(C, &h->list);
            pop_ctx(C);
            emit(C, OP_DELETE_FAST, hid);
            if (ne >= 256)
                cfail(C, h->line, h->col, "too many except clauses");
            ends[ne++] = emit(C, OP_JUMP, 0);
            if (next >= 0)
                patch(C, next, here(C));
        }
        emit(C, OP_LOAD_FAST, hid);
        emit(C, OP_DELETE_FAST, hid);
        emit(C, OP_RERAISE, 0);
        for (int i = 0; i < ne; i++)
            patch(C, ends[i], here(C));
    } else {
        compile_body(C, &s->list);
    }
    if (s->list3.n) {
        pop_ctx(C);
        emit(C, OP_POP_BLOCK, 0);
        compile_body(C, &s->list3);
        int end = emit(C, OP_JUMP, 0);
        patch(C, fin_setup, here(C));
        int hid = new_hidden(C, "fin");
        emit(C, OP_STORE_FAST, hid);
        compile_body(C, &s->list3);
        emit(C, OP_LOAD_FAST, hid);
        emit(C, OP_DELETE_FAST, hid);
        emit(C, OP_RERAISE, 0);
        patch(C, end, here(C));
    }
}

static void compile_stmt(compiler *C, node *s)
{
    cunit *u = C->cu;
    u->line = s->line;
    switch (s->kind) {
    case N_EXPR_STMT:
        if (s->a->kind == N_CONST_STR || s->a->kind == N_CONST_INT)
            break;   /* docstrings and bare constants: nothing to run */
        compile_expr(C, s->a);
        emit(C, OP_POP_TOP, 0);
        break;
    case N_ASSIGN:
        compile_expr(C, s->a);
        for (int i = 0; i < s->list.n; i++) {
            if (i < s->list.n - 1)
                emit(C, OP_DUP_TOP, 0);
            compile_store(C, s->list.v[i]);
        }
        break;
    case N_AUGASSIGN: {
        node *t = s->a;
        if (t->kind == N_NAME) {
            compile_expr(C, t);
            compile_expr(C, s->b);
            u->line = s->line;
            emit(C, OP_INPLACE_OP, s->op);
            store_name(C, t->str);
        } else if (t->kind == N_ATTR) {
            compile_expr(C, t->a);
            emit(C, OP_DUP_TOP, 0);
            emit(C, OP_LOAD_ATTR, add_name(C, t->str));
            compile_expr(C, s->b);
            u->line = s->line;
            emit(C, OP_INPLACE_OP, s->op);
            emit(C, OP_ROT_TWO, 0);
            emit(C, OP_STORE_ATTR, add_name(C, t->str));
        } else {
            compile_expr(C, t->a);
            compile_expr(C, t->b);
            emit(C, OP_DUP_TOP_TWO, 0);
            emit(C, OP_BINARY_SUBSCR, 0);
            compile_expr(C, s->b);
            u->line = s->line;
            emit(C, OP_INPLACE_OP, s->op);
            emit(C, OP_ROT_THREE, 0);
            emit(C, OP_STORE_SUBSCR, 0);
        }
        break;
    }
    case N_IF: {
        if (s->a->kind == N_CONST_TRUE) {
            compile_body(C, &s->list);
            break;
        }
        int pf;
        compile_jump_if(C, s->a, false, &pf);
        compile_body(C, &s->list);
        if (s->list2.n) {
            int j = emit(C, OP_JUMP, 0);
            patch(C, pf, here(C));
            compile_body(C, &s->list2);
            patch(C, j, here(C));
        } else {
            patch(C, pf, here(C));
        }
        break;
    }
    case N_WHILE: {
        int top = here(C);
        int pf;
        compile_jump_if(C, s->a, false, &pf);
        ctx *c = push_ctx(C, CTX_WHILE, s);
        c->continue_target = top;
        compile_body(C, &s->list);
        u->line = s->line;
        emit(C, OP_JUMP_BACK, top);
        patch(C, pf, here(C));
        c = &u->ctxs[u->nctx - 1];
        int nb = c->nbreaks;
        int *breaks = c->breaks;
        c->breaks = NULL;
        pop_ctx(C);
        compile_body(C, &s->list2);
        for (int i = 0; i < nb; i++)
            patch(C, breaks[i], here(C));
        free(breaks);
        break;
    }
    case N_FOR: {
        compile_expr(C, s->b);
        u->line = s->line;
        emit(C, OP_GET_ITER, 0);
        int top = here(C);
        int exit_ = emit(C, OP_FOR_ITER, 0);
        ctx *c = push_ctx(C, CTX_FOR, s);
        c->continue_target = top;
        compile_store(C, s->a);
        compile_body(C, &s->list);
        u->line = s->line;
        emit(C, OP_JUMP_BACK, top);
        patch(C, exit_, here(C));
        c = &u->ctxs[u->nctx - 1];
        int nb = c->nbreaks;
        int *breaks = c->breaks;
        c->breaks = NULL;
        pop_ctx(C);
        compile_body(C, &s->list2);
        for (int i = 0; i < nb; i++)
            patch(C, breaks[i], here(C));
        free(breaks);
        break;
    }
    case N_BREAK: case N_CONTINUE: {
        int li = innermost_loop(u);
        if (li < 0)
            cfail(C, s->line, s->col, s->kind == N_BREAK ? "'break' outside loop" : "'continue' not properly in loop");
        unwind_to(C, li, false);
        ctx *c = &u->ctxs[li];
        if (s->kind == N_BREAK) {
            if (c->kind == CTX_FOR)
                emit(C, OP_POP_TOP, 0);
            add_break(C, c, emit(C, OP_JUMP, 0));
        } else {
            emit(C, OP_JUMP_BACK, c->continue_target);
        }
        break;
    }
    case N_PASS:
        break;
    case N_RETURN:
        if (u->is_module || u->is_class)
            cfail(C, s->line, s->col, "'return' outside function");
        if (s->a) compile_expr(C, s->a);
        else emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
        unwind_to(C, -1, true);
        u->line = s->line;
        emit(C, OP_RETURN_VALUE, 0);
        break;
    case N_DEF:
        compile_function(C, s);
        break;
    case N_GLOBAL: case N_NONLOCAL:
        break;
    case N_TRY:
        compile_try(C, s);
        break;
    case N_RAISE:
        if (!s->a) {
            int hi = -1;
            for (int i = u->nctx - 1; i >= 0; i--)
                if (u->ctxs[i].kind == CTX_HANDLER) {
                    hi = i;
                    break;
                }
            if (hi < 0) {
                emit(C, OP_RAISE, 0);
            } else {
                emit(C, OP_LOAD_FAST, u->ctxs[hi].hidden);
                emit(C, OP_RERAISE, 0);
            }
        } else {
            compile_expr(C, s->a);
            if (s->b) {
                compile_expr(C, s->b);
                emit(C, OP_RAISE, 2);
            } else {
                emit(C, OP_RAISE, 1);
            }
        }
        break;
    case N_IMPORT: {
        /* import a.b binds a; import a.b as c binds the module a.b */
        emit(C, OP_IMPORT_NAME, add_name(C, s->str) | (s->names2[0] ? 1 << 20 : 0));
        store_name(C, s->names[0]);
        break;
    }
    case N_FROMIMPORT:
        emit(C, OP_IMPORT_NAME, add_name(C, s->str) | (1 << 20));
        for (int i = 0; i < s->nnames; i++) {
            emit(C, OP_IMPORT_FROM, add_name(C, s->names[i]));
            store_name(C, s->names2[i] ? s->names2[i] : s->names[i]);
        }
        emit(C, OP_POP_TOP, 0);
        break;
    case N_DEL:
        for (int i = 0; i < s->list.n; i++) {
            node *t = s->list.v[i];
            u->line = t->line;
            if (t->kind == N_NAME) {
                int li = u->is_module || u->is_class ? -1 : find_local(u, t->str);
                if (li >= 0) emit(C, OP_DELETE_FAST, li);
                else emit(C, OP_DELETE_GLOBAL, add_name(C, t->str));
            } else if (t->kind == N_SUBSCRIPT) {
                compile_expr(C, t->a);
                compile_expr(C, t->b);
                emit(C, OP_DELETE_SUBSCR, 0);
            } else if (t->kind == N_ATTR) {
                compile_expr(C, t->a);
                emit(C, OP_DELETE_ATTR, add_name(C, t->str));
            } else {
                cfail(C, t->line, t->col, "cannot delete this expression");
            }
        }
        break;
    case N_ASSERT: {
        int pt;
        compile_jump_if(C, s->a, true, &pt);
        if (s->b) compile_expr(C, s->b);
        emit(C, OP_ASSERT_FAIL, s->b ? 1 : 0);
        patch(C, pt, here(C));
        break;
    }
    case N_CLASS:
        compile_class(C, s);
        break;
    case N_WITH: {
        compile_expr(C, s->a);
        u->line = s->line;
        emit(C, OP_BEFORE_WITH, 0);          /* [__exit__ bound, __enter__()] */
        int hid = new_hidden(C, "exit");
        emit(C, OP_ROT_TWO, 0);
        emit(C, OP_STORE_FAST, hid);
        if (s->b) compile_store(C, s->b);
        else emit(C, OP_POP_TOP, 0);
        int setup = emit(C, OP_SETUP_EXCEPT, 0);
        ctx *wc = push_ctx(C, CTX_WITH, s);
        wc->hidden = hid;
        compile_body(C, &s->list);
        pop_ctx(C);
        u->line = s->line;
        emit(C, OP_POP_BLOCK, 0);
        emit(C, OP_LOAD_FAST, hid);
        emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
        emit(C, OP_DUP_TOP, 0);
        emit(C, OP_DUP_TOP, 0);
        emit(C, OP_CALL, 3);
        emit(C, OP_POP_TOP, 0);
        emit(C, OP_DELETE_FAST, hid);
        int end = emit(C, OP_JUMP, 0);
        patch(C, setup, here(C));
        /* [exc]: __exit__(type, exc, None); a true result swallows the exception */
        emit(C, OP_DUP_TOP, 0);
        emit(C, OP_WITH_EXIT_EXC, hid);
        int swallow = emit(C, OP_POP_JUMP_IF_TRUE, 0);
        emit(C, OP_DELETE_FAST, hid);
        emit(C, OP_RERAISE, 0);
        patch(C, swallow, here(C));
        emit(C, OP_POP_TOP, 0);
        emit(C, OP_DELETE_FAST, hid);
        patch(C, end, here(C));
        break;
    }
    default:
        cfail(C, s->line, s->col, "this statement is not supported yet");
    }
}

/* ---- stack depth --------------------------------------------------------------------------- */
/* effect when falling through (*jump_effect: when jumping; INT32_MIN: no jump) */
static int stack_effect(uint32_t ins, int *jump_effect, bool *terminates)
{
    int op = (int)(ins & 0xFF), arg = (int)(ins >> 8);
    *jump_effect = INT32_MIN;
    *terminates = false;
    switch (op) {
    case OP_NOP: return 0;
    case OP_POP_TOP: return -1;
    case OP_DUP_TOP: return 1;
    case OP_DUP_TOP_TWO: return 2;
    case OP_ROT_TWO: case OP_ROT_THREE: return 0;
    case OP_LOAD_CONST: case OP_LOAD_FAST: case OP_LOAD_GLOBAL: return 1;
    case OP_STORE_FAST: case OP_STORE_GLOBAL: return -1;
    case OP_DELETE_FAST: case OP_DELETE_GLOBAL: return 0;
    case OP_LOAD_ATTR: return 0;
    case OP_STORE_ATTR: return -2;
    case OP_DELETE_ATTR: return -1;
    case OP_LOAD_METHOD: return 1;
    case OP_CALL: return -arg;
    case OP_CALL_KW: return -(arg & 0xFF);
    case OP_CALL_METHOD: return -arg - 1;
    case OP_CALL_METHOD_KW: return -(arg & 0xFF) - 1;
    case OP_BINARY_OP: case OP_INPLACE_OP: case OP_COMPARE_OP: case OP_IS_OP: case OP_CONTAINS_OP: return -1;
    case OP_UNARY_OP: return 0;
    case OP_JUMP: case OP_JUMP_BACK: *jump_effect = 0; *terminates = true; return 0;
    case OP_POP_JUMP_IF_FALSE: case OP_POP_JUMP_IF_TRUE: *jump_effect = -1; return -1;
    case OP_JUMP_IF_FALSE_OR_POP: case OP_JUMP_IF_TRUE_OR_POP: *jump_effect = 0; return -1;
    case OP_GET_ITER: return 0;
    case OP_FOR_ITER: *jump_effect = -1; return 1;
    case OP_BUILD_TUPLE: case OP_BUILD_LIST: case OP_BUILD_STRING: return 1 - arg;
    case OP_BUILD_DICT: return 1 - 2 * arg;
    case OP_BUILD_SLICE: return 1 - arg;
    case OP_BINARY_SUBSCR: return -1;
    case OP_STORE_SUBSCR: return -3;
    case OP_DELETE_SUBSCR: return -2;
    case OP_UNPACK_SEQUENCE: return arg - 1;
    case OP_MAKE_FUNCTION: return -(arg & 1) - ((arg & 2) ? 1 : 0) - ((arg & 4) ? 1 : 0);
    case OP_LIST_EXTEND: case OP_DICT_MERGE: return -1;
    case OP_LIST_TO_TUPLE: return 0;
    case OP_BEFORE_WITH: return 1;
    case OP_BUILD_SET: return 1 - arg;
    case OP_WITH_EXIT_EXC: return 0;
    case OP_DICT_SET: return -2;
    case OP_CALL_FUNCTION_EX: return -1 - (arg & 1);
    case OP_RETURN_VALUE: *terminates = true; return -1;
    case OP_SETUP_EXCEPT: *jump_effect = 1; return 0;   /* the handler starts with the exception */
    case OP_POP_BLOCK: return 0;
    case OP_RAISE: *terminates = true; return -arg;
    case OP_RERAISE: *terminates = true; return -1;
    case OP_CHECK_EXC_MATCH: return -1;
    case OP_FORMAT_VALUE: return (arg & 4) ? -1 : 0;
    case OP_IMPORT_NAME: case OP_IMPORT_FROM: return 1;
    case OP_LIST_APPEND: case OP_SET_ADD: return -1;
    case OP_YIELD_VALUE: return 0;   /* the value out, the sent value in */
    case OP_ASSERT_FAIL: *terminates = true; return -arg;
    case OP_LOAD_BUILD_CLASS: return -2;
    case OP_MAKE_CELL: return 0;
    case OP_LOAD_DEREF: case OP_LOAD_CLOSURE: return 1;
    case OP_STORE_DEREF: return -1;
    case OP_STORE_NAME_CLASS: return -1;
    case OP_LOAD_NAME_CLASS: case OP_LOAD_OWNER_CLASS: return 1;
    default: return 0;
    }
}

static int max_stack(compiler *C, cunit *u)
{
    size_t n = u->n;
    int *depth = malloc(sizeof(int) * (n + 1));
    size_t *work = malloc(sizeof(size_t) * (n + 1) * 2);
    if (!depth || !work) {
        free(depth);
        free(work);
        coom(C);
    }
    for (size_t i = 0; i <= n; i++) depth[i] = -1;
    size_t nw = 0;
    int maxd = 0;
    depth[0] = 0;
    work[nw++] = 0;
    while (nw) {
        size_t i = work[--nw];
        int d = depth[i];
        for (; i < n; ) {
            int je;
            bool term;
            int eff = stack_effect(u->code[i], &je, &term);
            if (je != INT32_MIN) {
                size_t t = u->code[i] >> 8;
                int jd = d + je;
                if (jd > maxd) maxd = jd;
                if (t <= n && depth[t] < jd) {
                    depth[t] = jd;
                    work[nw++] = t;
                }
            }
            d += eff;
            if (d > maxd) maxd = d;
            if (term)
                break;
            i++;
            if (i < n && depth[i] >= d)
                break;
            if (i <= n) depth[i] = d;
        }
    }
    free(depth);
    free(work);
    return maxd;
}

static tally_object *finish_unit(compiler *C)
{
    cunit *u = C->cu;
    int stacksize = max_stack(C, u) + 2;
    py_code *co = (py_code *)tally_new(&py_code_type);
    if (!co) coom(C);
    co->nlocals = u->nlocals;
    co->nargs = u->nargs;
    co->nkwonly = u->nkwonly;
    co->pflags = u->pflags;
    co->is_module = u->is_module;
    co->is_generator = u->is_generator;
    co->firstline = u->firstline;
    co->source = C->source;
    co->ninstrs = u->n;
    co->instrs = u->code;
    co->lines = u->lines;
    u->code = NULL;
    u->lines = NULL;
    u->n = u->cap = 0;
    co->stacksize = stacksize;
    co->filename = tally_newref(C->filename_obj);
    co->name = tally_str_new(u->name);
    co->qualname = tally_str_new(u->qualname ? u->qualname : u->name);
    size_t nc = tally_list_len(u->consts), nn = tally_list_len(u->names);
    tally_object **tmp = malloc(sizeof(tally_object *) * (nc + nn + (size_t)u->nlocals + 1));
    if (!tmp || !co->name || !co->qualname) {
        free(tmp);
        tally_decref((tally_object *)co);
        coom(C);
    }
    for (size_t i = 0; i < nc; i++) tmp[i] = tally_list_get(u->consts, i);
    co->consts = tally_tuple_new(nc, tmp);
    for (size_t i = 0; i < nc; i++) tally_decref(tmp[i]);
    for (size_t i = 0; i < nn; i++) tmp[i] = tally_list_get(u->names, i);
    co->names = tally_tuple_new(nn, tmp);
    for (size_t i = 0; i < nn; i++) tally_decref(tmp[i]);
    bool ok = co->consts && co->names;
    int made = 0;
    for (int i = 0; i < u->nlocals && ok; i++, made++) {
        tmp[i] = tally_str_new(u->locals[i]);
        if (!tmp[i]) ok = false;
    }
    if (ok)
        co->varnames = tally_tuple_new((size_t)u->nlocals, tmp);
    for (int i = 0; i < made; i++) tally_xdecref(tmp[i]);
    free(tmp);
    co->ncaches = 0;
    size_t ng = 0;
    for (size_t i = 0; i < co->ninstrs; i++)
        if ((co->instrs[i] & 0xFF) == OP_LOAD_GLOBAL) {
            co->instrs[i] = INSTR(OP_LOAD_GLOBAL, (co->instrs[i] >> 8) | ((uint32_t)ng << 12));
            ng++;
        }
    if (ng >= 4096 || (co->names && tally_tuple_len(co->names) >= 4096)) {
        /* the cache number shares the argument with the name index (12 bits each) */
        tally_decref((tally_object *)co);
        cfail(C, u->firstline, 1, "too many global names in one code object (4096)");
    }
    co->ncaches = (uint32_t)ng;
    co->caches = calloc(ng ? ng : 1, sizeof(py_cache));
    if (!ok || !co->varnames || !co->caches) {
        tally_decref((tally_object *)co);
        coom(C);
    }
    co->nfree = u->nfrees;
    co->freeslots = malloc(sizeof(int32_t) * (size_t)(u->nfrees + 1));
    if (!co->freeslots) {
        tally_decref((tally_object *)co);
        coom(C);
    }
    for (int i = 0; i < u->nfrees; i++) co->freeslots[i] = find_local(u, u->frees[i]);
    nc = tally_tuple_len(co->consts);
    nn = tally_tuple_len(co->names);
    co->constv = malloc(sizeof(tally_object *) * (nc + 1));
    co->namev = malloc(sizeof(tally_object *) * (nn + 1));
    if (!co->constv || !co->namev) {
        tally_decref((tally_object *)co);
        coom(C);
    }
    for (size_t i = 0; i < nc; i++) co->constv[i] = tally_tuple_get(co->consts, i);
    for (size_t i = 0; i < nn; i++) co->namev[i] = tally_tuple_get(co->names, i);
    return (tally_object *)co;
}

tally_object *compile_module(node *mod, const char *filename, const char *source, arena *ar,
                             char *errmsg, size_t errsize, int *errline, int *errcol)
{
    compiler *C = calloc(1, sizeof *C);
    if (!C)
        return py_err_nomem();
    C->errmsg = errmsg;
    C->errsize = errsize;
    C->errline = errline;
    C->errcol = errcol;
    C->filename = filename;
    C->source = source;
    C->ar = ar;
    errmsg[0] = 0;
    if (setjmp(C->fail)) {
        while (C->cu) {
            cunit *o = C->cu->outer;
            cu_free(C->cu);
            C->cu = o;
        }
        tally_xdecref(C->filename_obj);
        bool oom = C->oom;
        free(C);
        if (oom) {
            errmsg[0] = 0;
            return py_err_nomem();
        }
        return NULL;
    }
    C->filename_obj = tally_str_new(filename);
    if (!C->filename_obj) coom(C);
    cunit *u = calloc(1, sizeof *u);
    if (!u) coom(C);
    C->cu = u;
    u->consts = tally_list_new();
    u->names = tally_list_new();
    if (!u->consts || !u->names) coom(C);
    u->is_module = true;
    u->name = "<module>";
    u->firstline = 1;
    u->line = 1;
    compile_body(C, &mod->list);
    emit(C, OP_LOAD_CONST, add_const(C, tally_newref(py_None)));
    emit(C, OP_RETURN_VALUE, 0);
    tally_object *code = finish_unit(C);
    cu_free(u);
    C->cu = NULL;
    tally_decref(C->filename_obj);
    free(C);
    return code;
}
