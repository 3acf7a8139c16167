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

  showResults(jobId, coverage, targets) {
    this.overlays.forEach((layer) => layer.remove());
    this.markers.clear();
    const outline = L.geoJSON(coverage, {style: {color: "#2b6cb0", weight: 2, fill: false}});
    const points = targets.features.map((feature) => this.marker(jobId, feature));
    this.overlays = [outline, ...points];
    this.overlays.forEach((layer) => layer.addTo(this.map));
  },

  marker(jobId, feature) {
    const p = feature.properties;
    const marker = L.circleMarker([p.lat, p.lon], {
      radius: 8, color: "#222", weight: 1, fillColor: p["marker-color"], fillOpacity: 0.9,
      className: "target-marker",
    });
    const popup = el("div", {class: "popup"},
      el("strong", {text: `${p.target_id} (rank ${p.rank})`}),
      el("div", {text: `poppy? ${Math.round(p.conf * 100)} %, ${Math.round(p.area_m2)} m²`}));
    if (p.thumbnail) {
      popup.append(el("img", {src: `/api/jobs/${jobId}/outputs/${p.thumbnail}`, alt: p.target_id}));
    }
    marker.bindPopup(popup);
    this.markers.set(p.target_id, marker);
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
