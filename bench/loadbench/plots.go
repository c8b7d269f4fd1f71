package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// figures is what a run measured, kept for the plots (-plots): each
// section fills its part; writePlots draws what is there.
var figures struct {
	// throughput[path][server] is the median requests (or cycles) per
	// second; servers in the order of throughputServers.
	throughput map[string]map[string]float64
	wake       []time.Duration // wake latencies across replicas, sorted
	rss        []capacityResult
}

// The servers of the throughput plot, in its order, and the paths.
var (
	throughputServers = []string{"bare net/http", "least work (go-redis)", "memory store", "Redis store"}
	throughputPaths   = []string{"404 poll (polls/s)", "cycle (cycles/s)"}
)

func recordThroughput(path, server string, perSecond float64) {
	if figures.throughput == nil {
		figures.throughput = map[string]map[string]float64{}
	}
	if figures.throughput[path] == nil {
		figures.throughput[path] = map[string]float64{}
	}
	figures.throughput[path][server] = perSecond
}

// writePlots writes the SVG charts of what this run measured into dir,
// and names the files it wrote.
func writePlots(dir, machine string) ([]string, error) {
	var written []string
	save := func(p *plot.Plot, name string) error {
		path := filepath.Join(dir, name)
		if err := p.Save(7*vg.Inch, 4*vg.Inch, path); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		written = append(written, path)
		return nil
	}

	if len(figures.throughput) > 0 {
		p := plot.New()
		p.Title.Text = "Throughput per path, one run (" + machine + ")"
		p.Y.Label.Text = "per second (median round)"
		p.Legend.Top = true
		w := vg.Points(18)
		for i, server := range throughputServers {
			vals := make(plotter.Values, len(throughputPaths))
			for j, path := range throughputPaths {
				vals[j] = figures.throughput[path][server] // 0 when not measured
			}
			bars, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return written, err
			}
			bars.LineStyle.Width = 0
			bars.Color = plotutil.Color(i)
			bars.Offset = w * vg.Length(i-len(throughputServers)/2)
			p.Add(bars)
			p.Legend.Add(server, bars)
		}
		p.NominalX(throughputPaths...)
		if err := save(p, "bench-throughput.svg"); err != nil {
			return written, err
		}
	}

	if len(figures.wake) > 0 {
		vals := make(plotter.Values, len(figures.wake))
		for i, d := range figures.wake {
			vals[i] = float64(d) / float64(time.Millisecond)
		}
		h, err := plotter.NewHist(vals, 40)
		if err != nil {
			return written, err
		}
		h.FillColor = color.RGBA{R: 70, G: 110, B: 180, A: 255}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Wake latency, callback on replica A to long-poll answered on B (%d cycles)", len(figures.wake))
		p.X.Label.Text = "milliseconds"
		p.Y.Label.Text = "long-polls"
		p.Add(h)
		if err := save(p, "bench-wake-latency.svg"); err != nil {
			return written, err
		}
	}

	if len(figures.rss) > 0 {
		p := plot.New()
		p.Title.Text = "RSS against held long-polls (" + machine + ")"
		p.X.Label.Text = "long-polls held"
		p.Y.Label.Text = "RSS growth, MB"
		p.Legend.Top, p.Legend.Left = true, true
		var lines []any
		for _, r := range figures.rss {
			xys := make(plotter.XYs, len(r.curve))
			for i, pt := range r.curve {
				xys[i] = plotter.XY{X: float64(pt.held), Y: float64(pt.rss-r.curve[0].rss) / 1e6}
			}
			lines = append(lines, r.name, xys)
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return written, err
		}
		if err := save(p, "bench-rss-held.svg"); err != nil {
			return written, err
		}
	}
	return written, nil
}
