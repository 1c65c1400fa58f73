/* svg-chart.h: a self-contained SVG bar chart (no scripts, no external fonts or styles), so a browser
 * opens the file as is. Used by `ptctl bench nic --svg`; knows nothing about networks. */
#pragma once

#include "util/util.h"

struct svg_bar {
	const char *label;       /* under the bar */
	double value;            /* bar height in chart units (>= 0) */
	bool missing;            /* no figure: a dashed placeholder with note instead of a bar */
	const char *note;        /* missing: the short text in the placeholder ("unavailable") */
	const char *color;       /* fill, "#rrggbb"; NULL: the default */
};

struct svg_chart {
	const char *title;
	const char *subtitle;    /* NULL: none */
	const char *unit;        /* the y axis label and the value labels' suffix ("Mbit/s") */
	const struct svg_bar *bars;
	size_t nbars;
	const char *const *footer; /* lines under the chart (the ratios) */
	size_t nfooter;
};

/* Writes the chart; -EINVAL for a negative or non-finite value, -EIO if writing failed. */
int svg_bar_chart(FILE *f, const struct svg_chart *c);
