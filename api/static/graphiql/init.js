// Starts GraphiQL on the page that GET /graphql serves in dev (api/graphiql.py). It is a
// file of its own, not an inline script, so that the page's Content-Security-Policy can
// allow scripts from this origin only.
"use strict";

(function () {
  var defaultQuery = [
    "# PhotoSurvey's GraphQL API. Every operation but serverInfo needs a token: add the",
    "# header below in the Headers tab, with a token that `make run` prints (or one from",
    "# `photosurvey contributors add`):",
    '#   {"Authorization": "Bearer <token>"}',
    "{",
    "  serverInfo {",
    "    version",
    "    database",
    "  }",
    "}",
    "",
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({
    url: window.location.origin + window.location.pathname,
  });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
