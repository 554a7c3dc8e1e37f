/* stress/harness/json.c - the JSON object of `tally stress --json`, built with json-c.
 *
 * Owns: the builder of harness.h (sj_*): a stack of open json-c containers, each value added to
 * the innermost one under its key, and the one-line output (json-c escapes and formats; doubles
 * with 9 significant digits; null for a number that is not finite, which JSON cannot hold).
 * Allocation failures inside json-c leave the value out and make sj_end fail.  Single-threaded.
 */
#include "harness.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool sj_failed;   /* json-c could not allocate a value or a member */

/* Add v (NULL: null when is_null, else an allocation that failed) to the innermost container;
 * true when it is there.  A container that could not be made is a NULL on the stack: what goes
 * into it is dropped (sj_end then fails). */
static bool add(stress_json *j, const char *key, struct json_object *v, bool is_null)
{
    struct json_object *top = j->stack[j->depth];
    if ((!v && !is_null) || !top) {
        json_object_put(v);
        sj_failed = true;
        return false;
    }
    if ((key ? json_object_object_add(top, key, v) : json_object_array_add(top, v)) != 0) {
        json_object_put(v);
        sj_failed = true;
        return false;
    }
    return true;
}

static void open_(stress_json *j, const char *key, struct json_object *c)
{
    if (j->depth + 1 >= SJ_MAX_DEPTH)
        abort();   /* the report nests 3 levels: deeper is a bug of the harness */
    /* the parent owns c (json-c's reference), the stack only borrows it */
    bool added = add(j, key, c, false);
    j->stack[++j->depth] = added ? c : NULL;
}

static void close_(stress_json *j)
{
    if (j->depth > 0)
        j->depth--;
}

void sj_begin(stress_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->stack[0] = json_object_new_object();
    sj_failed = j->stack[0] == NULL;
    json_c_set_serialization_double_format("%.9g", JSON_C_OPTION_GLOBAL);
}

int sj_end(stress_json *j)
{
    int rc = -1;
    if (j->stack[0] && !sj_failed) {
        const char *s = json_object_to_json_string_ext(j->stack[0], JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
        if (s && fputs(s, j->f) >= 0 && fputc('\n', j->f) != EOF)
            rc = 0;
    }
    if (sj_failed)
        fprintf(stderr, "tally stress: out of memory building the JSON report\n");
    json_object_put(j->stack[0]);
    j->stack[0] = NULL;
    j->depth = 0;
    return rc;
}

void sj_obj(stress_json *j, const char *key) { open_(j, key, json_object_new_object()); }
void sj_obj_end(stress_json *j) { close_(j); }
void sj_arr(stress_json *j, const char *key) { open_(j, key, json_object_new_array()); }
void sj_arr_end(stress_json *j) { close_(j); }

void sj_str(stress_json *j, const char *key, const char *v)
{
    add(j, key, v ? json_object_new_string(v) : NULL, v == NULL);
}

void sj_u64(stress_json *j, const char *key, uint64_t v) { add(j, key, json_object_new_uint64(v), false); }
void sj_i64(stress_json *j, const char *key, int64_t v) { add(j, key, json_object_new_int64(v), false); }

void sj_f64(stress_json *j, const char *key, double v)
{
    add(j, key, isfinite(v) ? json_object_new_double(v) : NULL, !isfinite(v));
}

void sj_bool(stress_json *j, const char *key, bool v) { add(j, key, json_object_new_boolean(v), false); }
