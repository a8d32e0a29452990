package main

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/molt-http/molt/internal/load"
)

// The HTML report is one file with no external assets: the latency and
// time-to-first-byte distributions are an inline SVG percentile plot (x:
// the percentile on a log scale of 1/(1-q), as HdrHistogram's plots; y:
// latency), drawn here, with no script.

// plotQuantiles are the x positions of the plot: 1-10^(-k/20).
func plotQuantiles() []float64 {
	var qs []float64
	for k := 0; k <= 100; k++ { // up to 99.999%
		qs = append(qs, 1-math.Pow(10, -float64(k)/20))
	}
	return qs
}

var seriesColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"}

type htmlSeries struct {
	Name   string
	Color  string
	Dash   string // SVG stroke-dasharray, empty for a solid line
	Points string // SVG polyline points
}

type htmlTick struct {
	Pos   float64
	Label string
}

type htmlData struct {
	Title   string
	When    string
	Reports []*load.Report
	Series  []htmlSeries
	XTicks  []htmlTick
	YTicks  []htmlTick
	W, H    float64 // plot area
	Command string
}

const (
	plotW, plotH       = 720.0, 360.0
	marginL, marginB   = 70.0, 40.0
	marginT, marginR   = 10.0, 20.0
	maxX               = 5.0 // log10(1/(1-0.99999))
	svgW, svgH         = plotW + marginL + marginR, plotH + marginT + marginB
	ySteps             = 5
	percentileMaxLabel = "99.999%"
)

func buildHTMLData(reps []*load.Report, command string) htmlData {
	d := htmlData{Reports: reps, W: plotW, H: plotH, When: time.Now().UTC().Format(time.RFC3339), Command: command}
	d.Title = "molt bench " + reps[0].URL
	qs := plotQuantiles()
	// Each mode's latency, solid, and its time to first byte, dashed in
	// the same colour (none in ws, where TTFB is not measured).
	type curve struct {
		name, color, dash string
		h                 *load.Histogram
	}
	var curves []curve
	for i, r := range reps {
		color := seriesColors[i%len(seriesColors)]
		curves = append(curves, curve{r.Mode, color, "", r.LatencyHistogram()})
		if r.TTFBHistogram().Count() > 0 {
			curves = append(curves, curve{r.Mode + " ttfb", color, "6 4", r.TTFBHistogram()})
		}
	}
	var ymax float64
	for _, c := range curves {
		ymax = max(ymax, us(c.h.Quantile(qs[len(qs)-1])))
	}
	ymax = niceCeil(ymax)
	if ymax == 0 {
		ymax = 1
	}
	for _, c := range curves {
		var pts []string
		for _, q := range qs {
			x := marginL + math.Log10(1/(1-q))/maxX*plotW
			if q >= 1 {
				x = marginL + plotW
			}
			y := marginT + plotH - us(c.h.Quantile(q))/ymax*plotH
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		d.Series = append(d.Series, htmlSeries{Name: c.name, Color: c.color, Dash: c.dash, Points: strings.Join(pts, " ")})
	}
	for k, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", percentileMaxLabel} {
		d.XTicks = append(d.XTicks, htmlTick{Pos: marginL + float64(k)/maxX*plotW, Label: label})
	}
	for k := 0; k <= ySteps; k++ {
		v := ymax * float64(k) / ySteps
		d.YTicks = append(d.YTicks, htmlTick{Pos: marginT + plotH - float64(k)/ySteps*plotH, Label: fmtUS(v)})
	}
	return d
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"us":      fmtUS,
	"bytes":   fmtBytes,
	"f1":      func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"svgW":    func() float64 { return svgW },
	"svgH":    func() float64 { return svgH },
	"x0":      func() float64 { return marginL },
	"x1":      func() float64 { return marginL + plotW },
	"y0":      func() float64 { return marginT },
	"y1":      func() float64 { return marginT + plotH },
	"below":   func(v float64) float64 { return v + 20 },
	"left":    func(v float64) float64 { return v - 8 },
	"legendY": func(i int) float64 { return marginT + 18 + 16*float64(i) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}code{background:#f4f4f4;padding:2px 4px}
svg text{font-size:12px}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.When}}{{if .Command}} · <code>{{.Command}}</code>{{end}}</p>
<table><tr><th>mode</th><th>conns × streams</th><th>req/s</th><th>ok</th><th>failed</th><th>bytes/s</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .Reports}}<tr><td>{{.Mode}}</td><td>{{.Connections}} × {{.Streams}}</td><td>{{f1 .RequestsPerSec}}</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td>{{bytes .BytesPerSec}}/s</td>
<td>{{us .Latency.Min}}</td><td>{{us .Latency.P50}}</td><td>{{us .Latency.P90}}</td><td>{{us .Latency.P99}}</td><td>{{us .Latency.P999}}</td><td>{{us .Latency.Max}}</td></tr>
{{end}}</table>
<h2>Latency by percentile (dashed: time to first byte)</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="{{svgW}}" height="{{svgH}}" role="img" aria-label="latency by percentile">
<rect x="{{x0}}" y="{{y0}}" width="{{.W}}" height="{{.H}}" fill="none" stroke="#999"/>
{{range .XTicks}}<line x1="{{.Pos}}" x2="{{.Pos}}" y1="{{y0}}" y2="{{y1}}" stroke="#eee"/><text x="{{.Pos}}" y="{{below y1}}" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .YTicks}}<line x1="{{x0}}" x2="{{x1}}" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#eee"/><text x="{{left x0}}" y="{{.Pos}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}{{range $i, $s := .Series}}<polyline fill="none" stroke="{{$s.Color}}" stroke-width="2"{{if $s.Dash}} stroke-dasharray="{{$s.Dash}}"{{end}} points="{{$s.Points}}"/>
<text x="{{left x1}}" y="{{legendY $i}}" text-anchor="end" fill="{{$s.Color}}">{{$s.Name}}</text>
{{end}}</svg>
{{range $r := .Reports}}{{if .Upgrade}}<h2>{{.Mode}}: upgrade handshake</h2>
<table><tr><th></th><th>n</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>
<tr><td>to 101</td><td>{{.Upgrade.To101.Count}}</td><td>{{us .Upgrade.To101.Min}}</td><td>{{us .Upgrade.To101.P50}}</td><td>{{us .Upgrade.To101.P90}}</td><td>{{us .Upgrade.To101.P99}}</td><td>{{us .Upgrade.To101.Max}}</td></tr>
<tr><td>to first HTTP/2 response</td><td>{{.Upgrade.FirstResponse.Count}}</td><td>{{us .Upgrade.FirstResponse.Min}}</td><td>{{us .Upgrade.FirstResponse.P50}}</td><td>{{us .Upgrade.FirstResponse.P90}}</td><td>{{us .Upgrade.FirstResponse.P99}}</td><td>{{us .Upgrade.FirstResponse.Max}}</td></tr></table>
{{end}}{{with .WebSocket}}<h2>{{$r.Mode}}: WebSocket handshake ({{if .HTTP2}}RFC 8441 over h2c{{if .H2CUpgrade}} reached by Upgrade{{end}}{{else}}HTTP/1.1{{end}}, messages of {{.MessageSize}} bytes; req/s above is messages/s)</h2>
<table><tr><th></th><th>n</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>
<tr><td>handshake</td><td>{{.Handshake.Count}}</td><td>{{us .Handshake.Min}}</td><td>{{us .Handshake.P50}}</td><td>{{us .Handshake.P90}}</td><td>{{us .Handshake.P99}}</td><td>{{us .Handshake.Max}}</td></tr></table>
{{end}}{{if .ErrorKinds}}<h2>{{.Mode}}: errors</h2><table><tr><th>kind</th><th>count</th><th>first message</th></tr>
{{range $k, $n := .ErrorKinds}}<tr><td>{{$k}}</td><td>{{$n}}</td><td>{{index $r.ErrorSample $k}}</td></tr>{{end}}</table>{{end}}{{end}}
</body></html>
`))

// writeHTML writes the self-contained HTML report of reps.
func writeHTML(w io.Writer, reps []*load.Report, command string) error {
	return htmlReport.Execute(w, buildHTMLData(reps, command))
}

func writeHTMLFile(name string, reps []*load.Report, command string) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("bench: -html: %w", err)
	}
	if err := writeHTML(f, reps, command); err != nil {
		f.Close()
		return fmt.Errorf("bench: -html: %w", err)
	}
	return f.Close()
}
