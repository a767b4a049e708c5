// MathJax 3 configuration for the docs site. MathJax itself is served from assets/mathjax/
// (copied from the npm package by docs/build.py), never from a CDN: the site must work offline.
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams",
  },
  startup: {
    // only these hold maths: notebook markdown (cells and outputs), LaTeX outputs, API-page
    // formulas (pymdownx.arithmatex); <pre>/<code> inside them are skipped as usual
    elements: [".jp-RenderedMarkdown", ".jp-RenderedLatex", ".arithmatex"],
    ready: () => {
      MathJax.startup.defaultReady();
      // docs/test_site.py waits for this marker before it counts typeset formulas
      MathJax.startup.promise.then(() => {
        document.documentElement.dataset.mathjax = "done";
      });
    },
  },
};
