"use strict";
// The mission map: the orthomosaics as this server's own tiles, coverage outline, targets.
// No basemap and no request to any other site (the pages run under default-src 'self').
const MissionMap = {
  map: null, imagery: new Map(), overlays: [], markers: new Map(),

  init() {
    this.map = L.map("map", {attributionControl: false, maxZoom: 23, zoomSnap: 0.5});
    this.map.setView([0, 0], 2);
  },

  showFiles(files) {
    const bounds = [];
    for (const file of files.filter((f) => f.state === "ready" && f.bounds)) {
      const [west, south, east, north] = file.bounds;
      bounds.push([south, west], [north, east]);
      if (!this.imagery.has(file.id)) {
        const layer = L.tileLayer(`/api/files/${file.id}/tiles/{z}/{x}/{y}.png`,
          {maxZoom: 23, bounds: [[south, west], [north, east]]});
        layer.addTo(this.map);
        this.imagery.set(file.id, layer);
        this.map.fitBounds(bounds);
      }
    }
  },

  // The mission as the registry holds it: every flight's coverage and targets; the map fits them.
  showResults(jobId, coverage, targets, flight) {
    this.overlays.forEach((layer) => layer.remove());
    this.markers.clear();
    const outline = L.geoJSON(coverage, {style: {color: "#2b6cb0", weight: 2, fill: false}});
    const points = targets.map((t) => this.marker(jobId, t, flight.get(t.target_id)));
    this.overlays = [outline, ...points];
    this.overlays.forEach((layer) => layer.addTo(this.map));
    const bounds = L.latLngBounds(targets.map((t) => [t.lat, t.lon]));
    if (coverage.features.length) bounds.extend(outline.getBounds());
    if (bounds.isValid()) this.map.fitBounds(bounds, {padding: [20, 20], maxZoom: 20});
  },

  marker(jobId, t, seen) {
    const colour = seen ? seen["marker-color"] : (t.state === "pending" ? "#bbbbbb" : "#666666");
    const marker = L.circleMarker([t.lat, t.lon], {
      radius: 8, color: "#222", weight: 1, fillColor: colour, fillOpacity: 0.9,
      className: "target-marker",
    });
    const conf = t.max_conf === null ? "" : `poppy? ${Math.round(t.max_conf * 100)} %, `;
    const popup = el("div", {class: "popup"},
      el("strong", {text: `${t.target_id} (${t.state})`}),
      el("div", {text: `${conf}${Math.round(t.area_m2 || 0)} m²`}),
      el("div", {class: "muted", text: seen ? "seen by the last flight"
        : `last seen ${(t.last_seen || "").slice(0, 10)}`}));
    if (seen && seen.thumbnail) {
      popup.append(el("img", {src: `/api/jobs/${jobId}/outputs/${seen.thumbnail}`, alt: t.target_id}));
    }
    marker.bindPopup(popup);
    this.markers.set(t.target_id, marker);
    return marker;
  },

  focus(targetId) {
    const marker = this.markers.get(targetId);
    if (marker) {
      this.map.setView(marker.getLatLng(), Math.max(this.map.getZoom(), 19));
      marker.openPopup();
    }
  },
};
