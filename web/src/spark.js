/* spark.js: the streams table's small bitrate chart, an SVG line drawn from
 * a Series (format.js). No chart library: a row's chart is two <path>s, so
 * the first page of the table draws without loading uPlot (charts.js loads
 * after, for the big charts). The caller owns the container; destroy()
 * removes the drawing. Main thread only.
 */
import { sparkPath } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 130;
const H = 32;
const SPAN_S = 30; /* at least this much time across, as the big charts' first minute */

/** A small line of series (its first line) in container: {update, destroy}. */
export function sparkline(container, series) {
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', 'spark-svg');
    svg.setAttribute('aria-hidden', 'true');
    const fill = document.createElementNS(NS, 'path');
    fill.setAttribute('class', 'spark-fill');
    const line = document.createElementNS(NS, 'path');
    line.setAttribute('class', 'spark-line');
    svg.append(fill, line);
    container.appendChild(svg);
    let drawn = '';
    return {
        update() {
            const d = series.data();
            const p = sparkPath(d[0], d[1], W, H, SPAN_S);
            if (p.line === drawn)
                return;
            drawn = p.line;
            line.setAttribute('d', p.line);
            fill.setAttribute('d', p.fill);
        },
        destroy() {
            svg.remove();
        },
    };
}
