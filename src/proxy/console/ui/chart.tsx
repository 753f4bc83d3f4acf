/**
 * Cost per day stacked by model, on uPlot (canvas; its stylesheet is one of the served files).
 * Series hold running sums so each model's band sits on the ones below; the legend shows each
 * model's own value. Colours come from the page's CSS variables, so light and dark both work.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { dayMs, type DailySeries } from "../../../shared/console-api.ts";
import { compact, legendValue, money } from "./format.ts";

const PALETTE = ["--chart-1", "--chart-2", "--chart-3", "--chart-4", "--chart-5", "--chart-6"];

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** The top models, the rest summed as "other" (a legend of 30 models helps nobody). */
function limitModels(series: DailySeries, max = PALETTE.length): { labels: string[]; values: number[][]; unpriced: boolean[] } {
  if (series.models.length <= max) return { labels: series.models, values: series.cost_micro_usd, unpriced: series.unpriced };
  const kept = series.cost_micro_usd.slice(0, max - 1);
  const other = series.days.map((_, d) => series.cost_micro_usd.slice(max - 1).reduce((sum, m) => sum + (m[d] ?? 0), 0));
  return { labels: [...series.models.slice(0, max - 1), "other"], values: [...kept, other], unpriced: [...series.unpriced.slice(0, max - 1), series.unpriced.slice(max - 1).every(Boolean)] };
}

/** Axis labels in dollars with as many decimals as the tick spacing needs ($0.05, $0.10; $5; $1.2K). */
export function dollarTicks(ticks: number[]): string[] {
  const step = ticks.length > 1 ? Math.abs((ticks[1] as number) - (ticks[0] as number)) : Math.abs(ticks[0] ?? 1);
  const decimals = step > 0 && step < 1 ? Math.min(6, Math.ceil(-Math.log10(step))) : 0;
  return ticks.map((t) => (Math.abs(t) >= 10_000 ? `$${compact(t)}` : `$${t.toFixed(decimals)}`));
}

export function StackedCostChart(props: { series: DailySeries; scheme: "light" | "dark"; label: string; testid?: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const { labels, values, unpriced } = limitModels(props.series);
    const x = props.series.days.map((d) => dayMs(d) / 1000);
    const stacked: number[][] = [];
    const running = x.map(() => 0);
    for (const v of values) stacked.push(v.map((c, i) => (running[i] = (running[i] as number) + c / 1e6)));
    const totals = values.map((v) => v.reduce((a, b) => a + b, 0));
    const days = props.series.days;
    const rangeText = days.length === 0 ? "" : days.length === 1 ? (days[0] as string) : `${days[0]} – ${days[days.length - 1]}`;
    const text = cssVar("--text-muted");
    const grid = cssVar("--grid");
    const colors = PALETTE.map(cssVar);
    const opts: uPlot.Options = {
      width: Math.max(300, el.clientWidth),
      height: 260,
      scales: { x: { time: true } },
      legend: { live: true },
      cursor: { points: { show: false } },
      series: [
        // hovered: the day; otherwise the range the models' totals are over (its label and colon hidden: style.css)
        { label: "", value: (_u, v) => (v == null ? rangeText : new Date(v * 1000).toISOString().slice(0, 10)) },
        ...labels.map((label, i) => ({
          label,
          stroke: colors[i % colors.length] as string,
          fill: `${colors[i % colors.length]}cc`,
          width: 1,
          points: { show: false },
          // the legend shows the model's own cost (not the running sum): that day's, or over the range when not hovered
          value: (_u: uPlot, _v: number | null, _s: number, idx: number | null) => legendValue(idx == null ? (totals[i] ?? 0) : (values[i]?.[idx] ?? 0), unpriced[i] ?? false),
        })),
      ],
      bands: labels.slice(1).map((_, i) => ({ series: [i + 2, i + 1] as [number, number] })),
      axes: [
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 64, values: (_u, ticks) => dollarTicks(ticks) },
      ],
    };
    const plot = new uPlot(opts, [x, ...stacked] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height: 260 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [props.series, props.scheme]);
  const total = props.series.cost_micro_usd.flat().reduce((a, b) => a + b, 0);
  return (
    <figure class="chart" data-testid={props.testid}>
      <figcaption>
        {props.label}: {money(total)} over {props.series.days.length} {props.series.days.length === 1 ? "day" : "days"}
      </figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${props.label}, stacked by model: ${props.series.models.join(", ") || "no usage"}; total ${money(total)}`} />
    </figure>
  );
}
