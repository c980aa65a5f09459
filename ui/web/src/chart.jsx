// A uPlot line chart of allocated vs total over time; resizes with its box.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { fmtMem } from './ui.jsx';
import 'uplot/dist/uPlot.min.css';

export function UsageChart({ title, times, used, total, unit }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(200, box.current.clientWidth);
    plot.current = new uPlot(
      {
        width,
        height: 160,
        legend: { live: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        axes: [{}, { size: 72, values: (u, vals) => vals.map((v) => (unit === 'MiB' ? fmtMem(v) : `${+v.toFixed(2)}`)) }],
        series: [
          {},
          { label: 'allocated', stroke: '#2563eb', fill: 'rgba(37,99,235,0.12)', width: 2 },
          { label: 'total', stroke: '#6b7280', dash: [4, 4], width: 1.5 },
        ],
      },
      [times, used, total],
      box.current,
    );
    const ro = new ResizeObserver(() => plot.current && plot.current.setSize({ width: Math.max(200, box.current.clientWidth), height: 160 }));
    ro.observe(box.current);
    return () => {
      ro.disconnect();
      plot.current.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    if (plot.current) plot.current.setData([times, used, total]);
  }, [times, used, total]);
  const last = used.length ? used[used.length - 1] : 0;
  const cap = total.length ? total[total.length - 1] : 0;
  return (
    <figure class="chart">
      <figcaption>
        <strong>{title}</strong> <span data-testid={`usage-${title.toLowerCase()}`}>
          {unit === 'MiB' ? `${fmtMem(last)} of ${fmtMem(cap)}` : `${+last.toFixed(2)} of ${+cap.toFixed(2)}`} allocated
        </span>
      </figcaption>
      <div ref={box} role="img" aria-label={`${title}: allocated and total over time`} />
    </figure>
  );
}
