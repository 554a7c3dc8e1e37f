/* stress/harness/json.c - a streaming JSON writer for `tally stress --json`.
 *
 * Owns: commas, nesting and string escaping of the one JSON object a run prints.  Numbers that
 * are not finite are written as null.  Single-threaded.
 */
#include "harness.h"

#include <inttypes.h>
#include <math.h>

static void sep(stress_json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->f);
    j->need_comma[j->depth] = true;
    if (key) {
        fputc('"', j->f);
        for (const char *p = key; *p; p++)
            fputc(*p, j->f);
        fputs("\":", j->f);
    }
}

static void sj_open(stress_json *j, const char *key, char c)
{
    sep(j, key);
    fputc(c, j->f);
    if (j->depth < 31)
        j->depth++;
    j->need_comma[j->depth] = false;
}

static void close_(stress_json *j, char c)
{
    fputc(c, j->f);
    if (j->depth > 0)
        j->depth--;
}

void sj_begin(stress_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->need_comma[0] = false;
    fputc('{', f);
    j->depth = 1;
    j->need_comma[1] = false;
}

void sj_end(stress_json *j)
{
    close_(j, '}');
    fputc('\n', j->f);
    fflush(j->f);
}

void sj_obj(stress_json *j, const char *key) { sj_open(j, key, '{'); }
void sj_obj_end(stress_json *j) { close_(j, '}'); }
void sj_arr(stress_json *j, const char *key) { sj_open(j, key, '['); }
void sj_arr_end(stress_json *j) { close_(j, ']'); }

void sj_str(stress_json *j, const char *key, const char *v)
{
    sep(j, key);
    if (!v) {
        fputs("null", j->f);
        return;
    }
    fputc('"', j->f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", j->f); break;
        case '\\': fputs("\\\\", j->f); break;
        case '\n': fputs("\\n", j->f); break;
        case '\t': fputs("\\t", j->f); break;
        case '\r': fputs("\\r", j->f); break;
        default:
            if (*p < 0x20)
                fprintf(j->f, "\\u%04x", *p);
            else
                fputc(*p, j->f);
        }
    }
    fputc('"', j->f);
}

void sj_u64(stress_json *j, const char *key, uint64_t v)
{
    sep(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void sj_i64(stress_json *j, const char *key, int64_t v)
{
    sep(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void sj_f64(stress_json *j, const char *key, double v)
{
    sep(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.9g", v);
    else
        fputs("null", j->f);
}

void sj_bool(stress_json *j, const char *key, bool v)
{
    sep(j, key);
    fputs(v ? "true" : "false", j->f);
}
