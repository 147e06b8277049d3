// Hash routes (`#/tags/<id>?x=y`): the server serves one page at `/`, so every view has an
// address to bookmark and the browser's back button works, with no server route per view.
import { useEffect, useState } from "preact/hooks";

export function parseHash(hash = window.location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path: path || "/", parts: path.split("/").filter(Boolean).map(decodeURIComponent),
           query: new URLSearchParams(query) };
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const changed = () => setRoute(parseHash());
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export function href(path, query) {
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null)).toString() : "";
  return `#${path}${q ? `?${q}` : ""}`;
}

export function go(path, query) {
  window.location.hash = href(path, query);
}
