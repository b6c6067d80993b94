/* export.c: the results for programs (--json, one item per line so a test
 * can read it without a JSON library) and for browsers (--chart: an SVG bar
 * chart written by hand, no dependency). */
#include <math.h>
#include <string.h>

#include "menu.h"

/* ------------------------------------------------------------------ json */

void menu_json(FILE *o, const menu_env *e, const menu_result *results, const menu_race *race,
               double total)
{
    fprintf(o, "{\n  \"tool\": \"weft-menu\",\n  \"scale\": %.4f,\n  \"ncpu\": %d,\n", e->scale,
            e->ncpu);
    fprintf(o, "  \"step_seconds\": %.4f,\n  \"cpu_blocks_per_job\": %ld,\n", e->step,
            e->cpu_blocks);
    fprintf(o, "  \"cpu_job_seconds_calibrated\": %.4f,\n",
            (double)e->cpu_blocks * e->block_seconds);
    fprintf(o, "  \"items\": [");
    bool first = true;
    for (int i = 0; i < menu_nitems; i++) {
        const menu_item *it = &menu_items[i];
        const menu_result *r = &results[i];
        if (!r->ran)
            continue;
        fprintf(o, "%s\n", first ? "" : ",");
        first = false;
        fprintf(o,
                "    {\"n\": %d, \"id\": \"%s\", \"kind\": \"%s\", \"variant\": \"%s\", "
                "\"workers\": %d, \"elapsed\": %.4f, ",
                i + 1, it->id, it->kind, it->variant, r->nworkers, r->elapsed);
        if (it->python > 0)
            fprintf(o, "\"python\": %.2f, ", it->python);
        else
            fprintf(o, "\"python\": null, ");
        fprintf(o, "\"steps\": %d, \"counts\": [", r->steps);
        for (int w = 0; w < r->nworkers; w++)
            fprintf(o, "%s%d", w ? ", " : "", r->counts[w]);
        fprintf(o, "], ");
        if (r->final >= 0)
            fprintf(o, "\"final\": %d, ", r->final);
        else
            fprintf(o, "\"final\": null, \"primes\": %ld, ", r->primes);
        fprintf(o, "\"concurrent\": %d, ", r->concurrent);
        if (r->connections >= 0)
            fprintf(o, "\"connections\": %d, ", r->connections);
        else
            fprintf(o, "\"connections\": null, ");
        fprintf(o, "\"cpu_seconds\": %.4f, \"wait_seconds\": %.4f, \"rc\": %d}", r->cpu_seconds,
                r->wait_seconds, r->rc);
    }
    fprintf(o, "\n  ],\n");
    if (race->rounds == 0)
        fprintf(o, "  \"race\": null,\n");
    else
        fprintf(o,
                "  \"race\": {\"rounds\": %d, \"gap_us\": %.2f, \"threads_over\": %d, "
                "\"threads_max\": %d, \"threads_lost\": %d, \"weft_over\": %d, \"weft_max\": %d, "
                "\"weft_lost\": %d},\n",
                race->rounds, race->gap_us, race->threads_over, race->threads_max,
                race->threads_lost, race->weft_over, race->weft_max, race->weft_lost);
    fprintf(o, "  \"total_seconds\": %.3f\n}\n", total);
}

/* ------------------------------------------------------------------- svg */

#define W      860
#define LEFT   230 /* room for the labels */
#define RIGHT  90  /* room for the value after the longest bar */
#define TOP    70
#define ROW    40
#define BOTTOM 60
#define C_IO   "#3b7dd8"
#define C_CPU  "#e07b39"
#define C_TALK "#9aa0a6"

/* A tick step of 1, 2 or 5 times a power of ten giving about 6 ticks. */
static double tick_step(double max)
{
    double raw = max / 6, p = pow(10, floor(log10(raw)));
    return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

int menu_svg(FILE *o, const menu_env *e, const menu_result *results)
{
    double max = 0;
    int rows = 0;
    for (int i = 0; i < menu_nitems; i++) {
        if (!results[i].ran)
            continue;
        rows++;
        max = fmax(max, results[i].elapsed);
        max = fmax(max, menu_items[i].python * e->scale);
    }
    if (max <= 0)
        max = 1;
    double step = tick_step(max), axis = ceil(max / step) * step;
    int h = TOP + ROW * rows + BOTTOM, plot = W - LEFT - RIGHT;
#define X(sec) (LEFT + (sec) / axis * plot)

    fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(o,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n",
            W, h, W, h);
    fprintf(o, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(o,
            "<text x=\"%d\" y=\"28\" font-size=\"18\" font-weight=\"bold\">The talk's menu in C "
            "with weft (scale %.2f, %d core%s)</text>\n",
            20, e->scale, e->ncpu, e->ncpu == 1 ? "" : "s");
    fprintf(o,
            "<text x=\"20\" y=\"50\" fill=\"#555\">elapsed seconds; blue: I/O-bound (HTTP too), "
            "orange: "
            "CPU-bound, grey: the talk's Python figure%s</text>\n",
            e->scale < 1 ? " scaled the same way" : "");

    for (double t = 0; t <= axis + step / 2; t += step) {
        double x = X(t);
        fprintf(o,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n",
                x, TOP - 8, x, TOP + ROW * rows, x, TOP + ROW * rows + 18, t);
    }
    fprintf(o, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">seconds</text>\n",
            X(axis / 2), TOP + ROW * rows + 40);

    for (int i = 0, row = 0; i < menu_nitems; i++) {
        const menu_item *it = &menu_items[i];
        const menu_result *r = &results[i];
        if (!r->ran)
            continue;
        int y = TOP + ROW * row++;
        /* HTTP requests are I/O-bound work too: the same colour */
        const char *colour = strcmp(it->kind, "CPU") != 0 ? C_IO : C_CPU;
        /* Labels hold only our own fixed strings: no XML escaping needed,
         * and none of them contains & or <. */
        fprintf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d. %s %s</text>\n", LEFT - 10,
                y + 15, i + 1, it->kind, it->variant);
        fprintf(o,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#777\" "
                "font-size=\"11\">%s</text>\n",
                LEFT - 10, y + 29, it->how);
        fprintf(o,
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>\n"
                "<text x=\"%.1f\" y=\"%d\">%.2f s</text>\n",
                LEFT, y + 3, X(r->elapsed) - LEFT, colour, X(r->elapsed) + 6, y + 16, r->elapsed);
        if (it->python > 0)
            fprintf(o,
                    "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"7\" fill=\"%s\"/>\n"
                    "<text x=\"%.1f\" y=\"%d\" fill=\"#777\" font-size=\"11\">%.2f s</text>\n",
                    LEFT, y + 22, X(it->python * e->scale) - LEFT, C_TALK,
                    X(it->python * e->scale) + 6, y + 29, it->python * e->scale);
    }
    fprintf(o, "</svg>\n");
#undef X
    return ferror(o) ? -1 : 0;
}
