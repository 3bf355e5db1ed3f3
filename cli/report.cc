#include "cli/report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/alphas.h"
#include "cli/format.h"
#include "cli/svg.h"

namespace nas::cli {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double Metric(const nas::v1::Trial& t, const std::string& name) {
  auto it = t.metrics().find(name);
  return it == t.metrics().end() ? kNaN : it->second;
}

bool Done(const nas::v1::Trial& t) {
  return t.state() == nas::v1::SUCCEEDED || t.state() == nas::v1::STOPPED_EARLY;
}

std::string Section(const std::string& title, const std::string& body) {
  return absl::StrCat("<section><h2>", XmlEscape(title), "</h2>\n", body,
                      "</section>\n");
}

// Compound scaling: every grid trial (phi = 1) and the chosen point at
// phi = 1..K as a table, and `metric` vs MACs with the phi curve drawn.
std::string ScalingSection(const std::vector<nas::v1::Trial>& done,
                           const std::string& metric) {
  std::vector<const nas::v1::Trial*> rows;
  for (const auto& t : done) {
    if (std::isfinite(Metric(t, "phi"))) rows.push_back(&t);
  }
  std::sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    return std::make_pair(Metric(*a, "scale_phase"), Metric(*a, "phi")) <
           std::make_pair(Metric(*b, "scale_phase"), Metric(*b, "phi"));
  });
  std::string body =
      absl::StrCat("<table><tr><th>trial</th><th>stage</th><th>alpha</th>"
                   "<th>beta</th><th>gamma</th><th>phi</th><th>blocks</th>"
                   "<th>width</th><th>resolution</th><th>",
                   XmlEscape(metric), "</th><th>MACs</th></tr>\n");
  Plot p{absl::StrCat(metric, " vs MACs by phi"), "MACs", metric, true};
  Series grid{"grid (phi = 1)", "#9ecae1", {}, {}};
  Series scaled{"chosen point, phi = 1..K", "#d62728", {}, {}, true, true, 4};
  for (const nas::v1::Trial* t : rows) {
    const bool scale = Metric(*t, "scale_phase") == 1;
    absl::StrAppend(&body, "<tr><td>", t->id(), "</td><td>",
                    scale ? "scale" : "grid", "</td>");
    for (const char* name : {"alpha", "beta", "gamma", "phi", "blocks",
                             "width_multiplier", "resolution"}) {
      absl::StrAppend(&body, "<td class=\"num\">",
                      FormatNumber(Metric(*t, name)), "</td>");
    }
    absl::StrAppend(&body, "<td class=\"num\">",
                    FormatNumber(Metric(*t, metric)), "</td><td class=\"num\">",
                    t->macs(), "</td></tr>\n");
    Series& s = scale ? scaled : grid;
    s.x.push_back(static_cast<double>(t->macs()));
    s.y.push_back(Metric(*t, metric));
  }
  p.series = {grid, scaled};
  return Section("Compound scaling", absl::StrCat(body, "</table>\n",
                                                  RenderPlot(p)));
}

}  // namespace

double TrialLatencyMs(const nas::v1::Trial& trial) {
  for (const auto& l : trial.latencies()) {
    if (l.batch_size() == 1) return l.median_ms();
  }
  for (const auto& [name, value] : trial.metrics()) {
    if (name.rfind("latency", 0) == 0) return value;
  }
  return kNaN;
}

std::vector<size_t> ParetoIndices(const std::vector<double>& primary,
                                  const std::vector<double>& x, bool maximize) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < primary.size() && i < x.size(); ++i) {
    if (std::isfinite(primary[i]) && std::isfinite(x[i])) idx.push_back(i);
  }
  // Sort by x ascending, better primary first on ties; keep strict improvers.
  auto better = [&](double a, double b) { return maximize ? a > b : a < b; };
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    if (x[a] != x[b]) return x[a] < x[b];
    return better(primary[a], primary[b]);
  });
  std::vector<size_t> front;
  for (size_t i : idx) {
    if (front.empty() || better(primary[i], primary[front.back()])) {
      front.push_back(i);
    }
  }
  return front;
}

std::string RenderReport(const nas::v1::Job& job,
                         const std::vector<nas::v1::Trial>& all) {
  const nas::v1::JobSpec& spec = job.spec();
  const std::string metric =
      spec.objectives_size() > 0 ? spec.objectives(0).metric() : "accuracy";
  const bool maximize = spec.objectives_size() == 0 ||
                        spec.objectives(0).direction() != nas::v1::MINIMIZE;

  std::vector<nas::v1::Trial> done;
  for (const auto& t : all) {
    if (Done(t) && std::isfinite(Metric(t, metric))) done.push_back(t);
  }
  std::sort(done.begin(), done.end(), [](const auto& a, const auto& b) {
    return a.end_time_ms() != b.end_time_ms() ? a.end_time_ms() < b.end_time_ms()
                                              : a.id() < b.id();
  });
  std::vector<double> value, params, macs, latency, order;
  for (size_t i = 0; i < done.size(); ++i) {
    value.push_back(Metric(done[i], metric));
    params.push_back(done[i].params() > 0 ? done[i].params() : kNaN);
    macs.push_back(done[i].macs() > 0 ? done[i].macs() : kNaN);
    latency.push_back(TrialLatencyMs(done[i]));
    order.push_back(i + 1);
  }

  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>NAS report: ",
      XmlEscape(spec.name()), "</title>\n<style>body{font-family:sans-serif;"
      "margin:24px;color:#222}section{margin-bottom:28px}table{border-collapse:"
      "collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:12px}"
      "th{background:#f3f3f3}td.num{text-align:right}.plots{display:flex;"
      "flex-wrap:wrap;gap:12px}code{font-size:11px}</style></head><body>\n",
      "<h1>Job ", XmlEscape(job.id()), ": ", XmlEscape(spec.name()), "</h1>\n");

  // Summary.
  {
    std::string body = "<table>";
    for (const auto& row : JobDetails(job).rows) {
      absl::StrAppend(&body, "<tr><th>", XmlEscape(row[0]), "</th><td>",
                      XmlEscape(row[1]), "</td></tr>");
    }
    absl::StrAppend(&html, Section("Summary", body + "</table>\n"));
  }

  // Plots.
  std::string plots = "<div class=\"plots\">\n";
  {
    Plot p{absl::StrCat("Best ", metric, " vs trials"), "completed trials",
           metric};
    Series each{"each trial", "#9ecae1", order, value};
    Series best{"best so far", "#08519c", {}, {}, true, false};
    double b = kNaN;
    for (size_t i = 0; i < value.size(); ++i) {
      if (!std::isfinite(b) || (maximize ? value[i] > b : value[i] < b)) b = value[i];
      best.x.push_back(order[i]);
      best.y.push_back(b);
    }
    p.series = {each, best};
    absl::StrAppend(&plots, RenderPlot(p));
  }
  auto front_plot = [&](const std::string& title, const std::string& x_label,
                        const std::vector<double>& x, bool log_x) {
    Plot p{title, x_label, metric, log_x};
    Series pts{"trials", "#9ecae1", x, value};
    Series front{"Pareto front", "#d62728", {}, {}, true, true, 4};
    for (size_t i : ParetoIndices(value, x, maximize)) {
      front.x.push_back(x[i]);
      front.y.push_back(value[i]);
    }
    p.series = {pts, front};
    return RenderPlot(p);
  };
  absl::StrAppend(&plots,
                  front_plot(absl::StrCat(metric, " vs parameters"),
                             "parameters", params, true),
                  front_plot(absl::StrCat(metric, " vs MACs"), "MACs", macs, true),
                  front_plot(absl::StrCat(metric, " vs latency"),
                             "latency (ms, batch 1)", latency, false));
  {
    Plot p{"Trial durations", "completed trials", "seconds"};
    Series s{"", "#ff7f0e", {}, {}};
    for (size_t i = 0; i < done.size(); ++i) {
      if (done[i].start_time_ms() > 0 && done[i].end_time_ms() > 0) {
        s.x.push_back(order[i]);
        s.y.push_back((done[i].end_time_ms() - done[i].start_time_ms()) / 1000.0);
      }
    }
    p.series = {s};
    absl::StrAppend(&plots, RenderPlot(p));
  }
  absl::StrAppend(&html, Section("Plots", plots + "</div>\n"));

  // Top trials.
  std::vector<size_t> rank(done.size());
  std::iota(rank.begin(), rank.end(), 0);
  std::sort(rank.begin(), rank.end(), [&](size_t a, size_t b) {
    return maximize ? value[a] > value[b] : value[a] < value[b];
  });
  if (rank.size() > 10) rank.resize(10);
  {
    std::vector<nas::v1::Trial> top;
    for (size_t i : rank) top.push_back(done[i]);
    const Table t = TrialsTable(top, spec);
    std::string body = "<table><tr>";
    for (const auto& h : t.header) absl::StrAppend(&body, "<th>", XmlEscape(h), "</th>");
    body += "</tr>\n";
    for (const auto& row : t.rows) {
      body += "<tr>";
      for (const auto& c : row) {
        absl::StrAppend(&body, "<td>", c.size() > 60 ? "<code>" : "",
                        XmlEscape(c), c.size() > 60 ? "</code>" : "", "</td>");
      }
      body += "</tr>\n";
    }
    absl::StrAppend(&html, Section("Top trials", body + "</table>\n"));
  }

  if (spec.strategy().has_compound_scaling()) {
    absl::StrAppend(&html, ScalingSection(done, metric));
  }

  if (spec.strategy().has_darts()) {
    // The last epoch's alphas of every finished supernet search.
    const std::vector<std::string> ops = DartsOpsOf(spec.search_space());
    std::string body;
    for (const auto& t : all) {
      const AlphaTable table = AlphaTableFromMetrics(t.metrics(), ops);
      if (!Done(t) || table.empty()) continue;
      nas::v1::CellGenotype derived;
      const bool have = DerivedGenotypeOf(t, ops, &derived);
      absl::StrAppend(
          &body, RenderAlphaHeatMap(
                     table, have ? &derived : nullptr,
                     absl::StrCat("search trial ", t.id(), " (latency weight ",
                                  FormatNumber(Metric(t, "latency_weight")),
                                  "): softmax(alpha)")));
    }
    if (!body.empty()) absl::StrAppend(&html, Section("DARTS alphas", body));
  }

  // Cells of the best architecture.
  if (!rank.empty() && done[rank[0]].architecture().has_cell()) {
    const nas::v1::Trial& best = done[rank[0]];
    const auto& cell = best.architecture().cell();
    std::string body = absl::StrCat("<p>Trial ", best.id(), ": ", metric, " = ",
                                    FormatNumber(value[rank[0]]), "</p>\n");
    absl::StrAppend(&body, RenderCell(cell.normal(), spec.search_space(),
                                      spec.search_space().has_darts()
                                          ? "normal cell"
                                          : "cell"));
    if (spec.search_space().has_darts()) {
      absl::StrAppend(&body, RenderCell(cell.reduce(), spec.search_space(),
                                        "reduction cell"));
    }
    absl::StrAppend(&html, Section("Best architecture", body));
  }
  absl::StrAppend(&html, "<footer><small>", done.size(), " completed of ",
                  all.size(), " trials. Generated by nasctl.</small></footer>\n",
                  "</body></html>\n");
  return html;
}

}  // namespace nas::cli
