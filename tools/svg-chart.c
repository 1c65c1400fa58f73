/* svg-chart.c: writes a bar chart as plain SVG 1.1: one bar per category with its value on top, a y axis
 * with round ticks, footer lines underneath. Output is a pure function of the input (golden-file tested). */
#include <math.h>

#include "svg-chart.h"

#define BAR_W 72
#define SLOT_W 128
#define LEFT 80
#define TOP 78
#define PLOT_H 260
#define FOOT_LINE 20

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			/* control characters have no place in XML 1.0 text */
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

/* The smallest 1, 2, 2.5 or 5 x 10^k at or above v (v > 0). */
static double nice_ceil(double v)
{
	static const double steps[] = { 1, 2, 2.5, 5, 10 };
	double p = pow(10, floor(log10(v)));
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
		if (steps[i] * p >= v * (1 - 1e-9))
			return steps[i] * p;
	return 10 * p;
}

static void number(char *buf, size_t len, double v)
{
	snprintf(buf, len, v >= 10 || v == 0 ? "%.0f" : "%.1f", v);
}

static bool color_ok(const char *c)
{
	if (!c || strlen(c) != 7 || c[0] != '#')
		return false;
	for (int i = 1; i < 7; i++)
		if (!strchr("0123456789abcdefABCDEF", c[i]))
			return false;
	return true;
}

int svg_bar_chart(FILE *f, const struct svg_chart *c)
{
	double max = 0;
	size_t n = c->nbars ? c->nbars : 1;
	int width = LEFT + (int)n * SLOT_W + 40;
	int base = TOP + PLOT_H;
	int height = base + 56 + (int)c->nfooter * FOOT_LINE + 16;
	char num[32];

	for (size_t i = 0; i < c->nbars; i++) {
		if (c->bars[i].missing)
			continue;
		if (!isfinite(c->bars[i].value) || c->bars[i].value < 0)
			return -EINVAL;
		if (c->bars[i].value > max)
			max = c->bars[i].value;
	}
	max = max > 0 ? nice_ceil(max) : 1;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
		width, height, width, height);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
	fprintf(f, "<text x=\"%d\" y=\"30\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\">", width / 2);
	esc(f, c->title);
	fputs("</text>\n", f);
	if (c->subtitle) {
		fprintf(f, "<text x=\"%d\" y=\"52\" font-size=\"12\" fill=\"#555555\" text-anchor=\"middle\">", width / 2);
		esc(f, c->subtitle);
		fputs("</text>\n", f);
	}
	/* y axis: five steps of the rounded maximum, with light grid lines */
	for (int t = 0; t <= 5; t++) {
		int y = base - PLOT_H * t / 5;
		number(num, sizeof(num), max * t / 5);
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1\"/>\n", LEFT, y,
			width - 30, y, t ? "#e0e0e0" : "#333333");
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", LEFT - 8, y + 4, num);
	}
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333333\" stroke-width=\"1\"/>\n", LEFT, TOP - 6,
		LEFT, base);
	fprintf(f, "<text x=\"18\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">",
		TOP + PLOT_H / 2, TOP + PLOT_H / 2);
	esc(f, c->unit);
	fputs("</text>\n", f);

	for (size_t i = 0; i < c->nbars; i++) {
		const struct svg_bar *b = &c->bars[i];
		int cx = LEFT + (int)i * SLOT_W + SLOT_W / 2, x = cx - BAR_W / 2;
		if (b->missing) {
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"40\" fill=\"none\" stroke=\"#999999\" "
				   "stroke-dasharray=\"4 3\"/>\n", x, base - 40, BAR_W);
			fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#777777\" text-anchor=\"middle\">", cx,
				base - 16);
			esc(f, b->note ? b->note : "n/a");
			fputs("</text>\n", f);
		} else {
			int h = (int)lround(PLOT_H * b->value / max);
			number(num, sizeof(num), b->value);
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", x, base - h, BAR_W, h,
				color_ok(b->color) ? b->color : "#0071c5");
			fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" font-weight=\"bold\" text-anchor=\"middle\">%s",
				cx, base - h - 6, num);
			fputs("</text>\n", f);
		}
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">", cx, base + 20);
		esc(f, b->label);
		fputs("</text>\n", f);
	}
	for (size_t i = 0; i < c->nfooter; i++) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\">", LEFT, base + 52 + (int)i * FOOT_LINE);
		esc(f, c->footer[i]);
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
	return ferror(f) ? -EIO : 0;
}
