// The account's tags, campaigns, actions and the API's choices, loaded once after sign-in and
// again after a change, so every page can show names instead of ids.
import { useEffect, useState } from "preact/hooks";
import { api } from "./api.js";

let current = { loading: true, error: null, tags: [], campaigns: [], actions: [], choices: null };
let pending = null;
const listeners = new Set();

function publish(next) {
  current = next;
  listeners.forEach((f) => f(current));
}

export function reloadCatalogue() {
  pending = (async () => {
    try {
      const [tags, campaigns, actions, choices] = await Promise.all([
        api.get("/v1/tags"), api.get("/v1/campaigns"), api.get("/v1/conversion-actions"),
        current.choices ? Promise.resolve(current.choices) : api.get("/v1/choices"),
      ]);
      publish({ loading: false, error: null, tags: tags.items, campaigns: campaigns.items,
                actions: actions.items, choices });
    } catch (error) {
      publish({ ...current, loading: false, error });
    }
  })();
  return pending;
}

export function forgetCatalogue() {
  pending = null;
  publish({ loading: true, error: null, tags: [], campaigns: [], actions: [], choices: null });
}

export function useCatalogue() {
  const [state, setState] = useState(current);
  useEffect(() => {
    listeners.add(setState);
    if (!pending) reloadCatalogue();
    setState(current);
    return () => listeners.delete(setState);
  }, []);
  return state;
}

// Names by id; an id the caller cannot name (another account's campaign) stays an id.
export function nameOf(list, idField, id) {
  const found = list.find((item) => item[idField] === id);
  return found ? found.name : id;
}
export const tagName = (cat, id) => nameOf(cat.tags, "tag_id", id);
export const campaignName = (cat, id) => nameOf(cat.campaigns, "campaign_id", id);
export const actionName = (cat, id) => nameOf(cat.actions, "action_id", id);
