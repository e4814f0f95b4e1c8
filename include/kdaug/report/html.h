// The HTML report: one self-contained file (inline SVG charts, PNG images as base64 data URIs,
// no scripts or styles fetched from the network) describing a run directory or an ablation.
//
// Inputs read (each optional; a section without its data says so instead of failing):
//   run directory:      run.json, metrics.jsonl (Trainer), summary.json (kdaug run/train),
//                       eval.json (kdaug eval: clean, noise, corrupt, calib, fidelity, ...),
//                       preview.png (augmentation grid written by kdaug run/train)
//   ablation directory: results.json (kdaug ablate: arms, metrics with mean/std/n, comparisons
//                       against the baseline with a confidence interval); each arm's first run
//                       directory listed there is read as a run directory for curves, eval.json
//                       and preview.png (its path as written, else relative to the ablation).
#pragma once

#include <string>
#include <vector>

namespace kdaug::report {

// The id of every section, in page order: overview, training-curves, ablation, noise-sweep,
// corruptions, reliability, confusion, agreement, augmentation.
const std::vector<std::string>& report_section_ids();

// Builds the report of `dir`. Throws kdaug::Error naming the directory when it holds neither
// results.json nor any of run.json / metrics.jsonl / summary.json, or when a file is not valid JSON.
std::string html_report(const std::string& dir);

// Base64 (RFC 4648, with padding) of arbitrary bytes.
std::string base64(const std::string& bytes);
// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace kdaug::report
