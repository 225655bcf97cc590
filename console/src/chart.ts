// Equity and each position's signed size over the session, with uPlot (no network, no canvas
// library beyond it). Points come from the fills' history and from account reads the event
// stream triggers; nothing here polls.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLORS = ["#60a5fa", "#f472b6", "#facc15", "#a78bfa", "#34d399", "#fb923c"];

interface Point {
  t: number; // seconds
  equity: number | null;
  sizes: Map<string, number>; // signed size per market at that time
}

export class SessionChart {
  private points: Point[] = [];
  private markets: string[] = [];
  private plot: uPlot | null = null;

  constructor(private readonly el: HTMLElement) {}

  clear(): void {
    this.points = [];
    this.markets = [];
    this.plot?.destroy();
    this.plot = null;
    this.el.textContent = "";
  }

  // History: one point per fill (sizes only; the indexer keeps no past equity here).
  addHistory(points: { t: number; sizes: Map<string, number> }[]): void {
    for (const p of points) this.points.push({ t: p.t, equity: null, sizes: p.sizes });
    this.redraw();
  }

  add(t: number, equity: number | null, sizes: Map<string, number>): void {
    this.points.push({ t, equity, sizes });
    this.redraw();
  }

  private redraw(): void {
    this.points.sort((a, b) => a.t - b.t);
    const markets = new Set<string>();
    for (const p of this.points) for (const m of p.sizes.keys()) markets.add(m);
    const list = [...markets].sort();
    const xs = this.points.map((p) => p.t);
    const equity = this.points.map((p) => p.equity);
    const series = list.map((m) => this.points.map((p) => p.sizes.get(m) ?? 0));
    const data = [xs, equity, ...series] as uPlot.AlignedData;
    if (this.plot === null || list.join() !== this.markets.join()) {
      this.markets = list;
      this.plot?.destroy();
      const width = Math.max(320, this.el.clientWidth || 600);
      this.plot = new uPlot(
        {
          width,
          height: 220,
          scales: {
            // One point (just signed in): a two-minute window around it, not years.
            x: { time: true, range: (_u, min, max) => (min === max ? [min - 60, max + 60] : [min, max]) },
            eq: { auto: true },
            size: { auto: true },
          },
          axes: [
            { stroke: "#cbd5e1", grid: { stroke: "#334155" } },
            {
              scale: "eq",
              stroke: "#cbd5e1",
              grid: { stroke: "#334155" },
              label: "equity (USDC)",
              size: 90,
              values: (_u, vals) => vals.map((v) => v.toLocaleString("en-US", { maximumFractionDigits: 4 })),
            },
            {
              scale: "size",
              side: 1,
              stroke: "#cbd5e1",
              grid: { show: false },
              label: "size",
              size: 70,
              values: (_u, vals) => vals.map((v) => String(+v.toPrecision(6))),
            },
          ],
          series: [
            {},
            { label: "equity", scale: "eq", stroke: "#4ade80", width: 2, spanGaps: true },
            ...list.map((m, i) => ({
              label: m,
              scale: "size",
              stroke: COLORS[i % COLORS.length],
              width: 1.5,
              paths: uPlot.paths.stepped!({ align: 1 }),
            })),
          ],
        },
        data,
        this.el,
      );
    } else {
      this.plot.setData(data);
    }
  }

  resize(): void {
    if (this.plot) this.plot.setSize({ width: Math.max(320, this.el.clientWidth), height: 220 });
  }
}
