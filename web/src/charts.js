/* charts.js: uPlot charts of bitrates (kbit/s over time).
 *
 * bitrateChart() and valueChart() are the overview's and the stream page's
 * charts (axes, legend, cursor; the streams table's small charts are
 * spark.js's, without uPlot). They follow their
 * container's width (ResizeObserver) and take their data from a Series
 * (format.js) through update(). destroy() frees the chart and the observer;
 * the caller owns the container.
 */
import uPlot from 'uplot';
import { formatKbps, formatKbpsShort } from './format.js';

const IN_COLOR = '#2f7ed8';
const OUT_COLOR = '#e4572e';
const GRID = 'rgba(128, 128, 128, .2)';

function widthOf(el, fallback) {
    const w = Math.floor(el.clientWidth);
    return w > 40 ? w : fallback;
}

/** An x range ending at the newest point and covering at least `least`
 *  seconds (the data itself is bounded by its Series); up to now while
 *  there is no point. */
function lastSeconds(least) {
    return (u, min, max) => {
        if (!Number.isFinite(max)) {
            const now = Date.now() / 1000;
            return [now - least, now];
        }
        return [Math.min(min, max - least), max];
    };
}

function follow(el, chart, height) {
    if (typeof ResizeObserver !== 'function')
        return null;
    let last = 0;
    const ro = new ResizeObserver(() => {
        const w = widthOf(el, 0);
        if (w && w !== last) {
            last = w;
            chart.setSize({ width: w, height });
        }
    });
    ro.observe(el);
    return ro;
}

/* Draws a uPlot chart of series in container, resized with it: the handle
 * the views keep (update() after new samples, destroy() when the row or
 * view goes). */
function mount(opts, series, container, height) {
    const chart = new uPlot(opts, series.data(), container);
    const ro = follow(container, chart, height);
    return {
        update: () => {
            const d = series.data();
            chart.setData(d);
            /* the points drawn (tests read it: the history survives a reload) */
            const n = d.length > 1 ? d[1].filter((v) => v !== null && v !== undefined).length : 0;
            if (container.getAttribute('data-points') !== String(n))
                container.setAttribute('data-points', String(n));
        },
        destroy: () => {
            if (ro)
                ro.disconnect();
            chart.destroy();
        },
    };
}

/**
 * A chart of one bitrate line with a time axis. label names the line
 * ("in", "out"); which picks the colour ("in" or "out"). series: anything
 * with data() (a Series, or the node's history: gaps are nulls).
 */
export function bitrateChart(container, label, which, series) {
    return valueChart(container, label, which === 'out' ? OUT_COLOR : IN_COLOR, series,
        formatKbps, formatKbpsShort);
}

/** The same for any figure: fmt shows a value, fmtAxis an axis tick. */
export function valueChart(container, label, color, series, fmt, fmtAxis) {
    const span = 60; /* the first minute fills from the right; then all the Series holds */
    const height = 180;
    const opts = {
        width: widthOf(container, 320),
        height,
        cursor: { drag: { x: false, y: false } },
        /* the page's one time zone (formatWhen()): UTC */
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        scales: {
            x: { time: true, range: lastSeconds(span) },
            y: { range: (u, min, max) => [0, Math.max(max * 1.15, 10)] },
        },
        axes: [
            { stroke: '#888', grid: { stroke: GRID } },
            {
                stroke: '#888',
                grid: { stroke: GRID },
                size: 56,
                values: (u, vals) => vals.map(fmtAxis),
            },
        ],
        series: [
            {},
            {
                label,
                stroke: color,
                width: 2,
                fill: color + '22',
                value: (u, v) => (v === null || v === undefined ? '–' : fmt(v)),
                points: { show: false },
            },
        ],
    };
    return mount(opts, series, container, height);
}
