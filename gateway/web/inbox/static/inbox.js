// The agents' inbox page. Everything a customer wrote is put on the page as text
// (textContent) or as a checked http(s) URL attribute: customer data never becomes markup.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  // Icon paths (24×24, stroked), built with createElementNS: no markup parsing anywhere.
  const ICONS = {
    inbox: ["M4 13h4l2 3h4l2-3h4", "M5.5 5h13L21 13v5a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-5z"],
    SMS: ["M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z", "M8 11h.01M12 11h.01M16 11h.01"],
    FACEBOOK: ["M12 3C7 3 3 6.7 3 11.3c0 2.6 1.3 4.9 3.3 6.4V21l3-1.7c.9.3 1.8.4 2.7.4 5 0 9-3.7 9-8.4S17 3 12 3z", "M7.5 13.5l3-3.2 2 2 3.9-2.3-3 3.2-2-2z"],
    CHAT: ["M4 5h16v11H9l-5 4z", "M8 9h8M8 12h5"],
    note: ["M7 11V7a5 5 0 0 1 10 0v4", "M5 11h14v10H5z"],
    send: ["M4 12l16-8-6 16-2-7z", "M12 13l8-9"],
    search: ["M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z", "M20 20l-4-4"],
    back: ["M15 5l-7 7 7 7"],
    logout: ["M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3", "M10 16l-4-4 4-4", "M6 12h10"],
    file: ["M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z", "M14 3v5h5"],
    link: ["M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1", "M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"],
    reply: ["M9 14L4 9l5-5", "M4 9h10a6 6 0 0 1 6 6v4"],
    info: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M12 8h.01M11 12h1v5h1"],
    person: ["M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M4 21a8 8 0 0 1 16 0"],
    warn: ["M12 3l10 18H2z", "M12 10v4M12 17h.01"],
    image: ["M4 5h16v14H4z", "M4 16l5-5 4 4 3-3 4 4", "M15 9h.01"],
  };
  const CHANNEL_NAMES = { SMS: "SMS", FACEBOOK: "Messenger", CHAT: "Web chat" };

  function icon(name, cls) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "icon" + (cls ? " " + cls : ""));
    for (const d of ICONS[name] || ICONS.CHAT) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    }
    return svg;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Only absolute http(s) URLs of another origin reach an href or src. `javascript:` and the
  // like, relative URLs and the gateway's own addresses (which the agent's cookie would
  // follow, say to the media proxy) become text.
  function safeUrl(value) {
    if (typeof value !== "string") return null;
    let url;
    try {
      url = new URL(value); // no base: a relative URL does not parse
    } catch (_) {
      return null;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return null;
    if (url.origin === location.origin) return null;
    return url.href;
  }

  const state = {
    me: null,
    channels: {},
    mediaChannels: [],
    conversations: [],
    hasMore: false,
    query: "",
    openId: null,
    thread: null,
    messages: new Map(),
    mode: "reply",
    socket: null,
    retry: 0,
  };

  // --- the API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || "request failed (" + status + ")");
      this.status = status;
      this.code = body && body.details && body.details.applicationError && body.details.applicationError.code;
    }
  }

  async function api(path, options) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    init.headers = Object.assign({ "X-Requested-With": "inbox", Accept: "application/json" }, init.headers);
    if (init.json !== undefined) {
      init.body = JSON.stringify(init.json);
      init.headers["Content-Type"] = "application/json";
      delete init.json;
    }
    const response = await fetch("/inbox/api/" + path, init);
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (response.status === 401 && path !== "login") {
      showLogin();
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  // --- login ---------------------------------------------------------------------------

  function showLogin(message) {
    closeSocket();
    $("app").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("username").focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    const button = $("login-submit");
    button.disabled = true;
    try {
      await api("login", { method: "POST", json: { username: $("username").value, password: $("password").value } });
      $("password").value = "";
      $("login-error").hidden = true;
      await start();
    } catch (error) {
      showLogin(error.status === 401 ? "Wrong username or password." : error.message);
    } finally {
      button.disabled = false;
    }
  }

  async function onLogout() {
    try { await api("logout", { method: "POST" }); } catch (_) { /* the cookie goes anyway */ }
    state.openId = null;
    showLogin();
  }

  async function start() {
    const me = await api("me");
    const config = await api("config");
    state.me = me.agent;
    state.channels = {};
    for (const c of config.channels) state.channels[c.channelId] = c;
    state.mediaChannels = config.mediaChannels || [];
    $("business-name").textContent = me.business.name;
    $("agent-name").textContent = me.agent.displayName;
    document.title = "Inbox · " + me.business.name;
    $("login").hidden = true;
    $("app").hidden = false;
    list.wanted = PAGE;
    await loadConversations();
    connect();
    const wanted = location.hash.slice(1);
    if (wanted) openConversation(decodeURIComponent(wanted));
  }

  // --- the conversation list -----------------------------------------------------------

  // How many conversations the list shows: one page, and another for each "Load more".
  const PAGE = 50;
  // The most the gateway answers in one page.
  const MAX_PAGE = 200;
  // Every read of the list gets a ticket; `shown` is the ticket of the answer on screen.
  const list = { wanted: PAGE, asked: 0, shown: 0 };

  let listTimer = null;
  function refreshListSoon() {
    clearTimeout(listTimer);
    listTimer = setTimeout(() => loadConversations().catch(() => {}), 150);
  }

  function searchConversations(query) {
    state.query = query;
    list.wanted = PAGE;
    return loadConversations();
  }

  function loadMore() {
    list.wanted = state.conversations.length + PAGE;
    return loadConversations();
  }

  // Reads the list again from the top, as far down as the agent has loaded it, so a live
  // update moves and refreshes conversations without dropping the pages loaded by hand.
  // Answers may arrive out of order: one is shown only when it answers what the page asks
  // for now and no answer to a later read is on screen already.
  async function loadConversations() {
    const ticket = ++list.asked;
    const query = state.query;
    const wanted = list.wanted;
    const found = await readConversations(query, wanted);
    if (ticket < list.shown || query !== state.query || wanted !== list.wanted) return;
    list.shown = ticket;
    state.conversations = found.conversations;
    state.hasMore = found.hasMore;
    renderList();
  }

  async function readConversations(query, wanted) {
    const conversations = [];
    const seen = new Set();
    let hasMore = true;
    while (hasMore && conversations.length < wanted) {
      const params = new URLSearchParams();
      if (query) params.set("q", query);
      params.set("limit", String(Math.min(MAX_PAGE, wanted - conversations.length)));
      if (conversations.length) params.set("before", conversations[conversations.length - 1].id);
      const data = await api("conversations?" + params.toString());
      // A conversation that moved up between two pages comes back twice: keep the first.
      for (const c of data.conversations) {
        if (seen.has(c.id)) continue;
        seen.add(c.id);
        conversations.push(c);
      }
      hasMore = data.hasMore && data.conversations.length > 0;
    }
    return { conversations: conversations, hasMore: hasMore };
  }

  function initials(name) {
    const words = String(name || "?").replace(/[^\p{L}\p{N} ]/gu, " ").trim().split(/\s+/);
    return ((words[0] || "?")[0] + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
  }

  function avatar(node, conversation) {
    node.replaceChildren();
    const name = conversation.participantDisplayData.name || "";
    // A phone number or an id has no initials worth showing: a person glyph instead.
    if (/\p{L}/u.test(name) && !/^visitor /i.test(name)) node.textContent = initials(name);
    else node.appendChild(icon("person"));
    const hue = [...conversation.id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
    node.style.setProperty("--hue", String(hue));
  }

  function channelBadge(type, withName) {
    const badge = el("span", "channel channel-" + String(type).toLowerCase());
    badge.title = CHANNEL_NAMES[type] || type;
    badge.appendChild(icon(type));
    if (withName) badge.appendChild(el("span", "", CHANNEL_NAMES[type] || type));
    return badge;
  }

  function renderList() {
    const list = $("conversations");
    list.replaceChildren();
    for (const c of state.conversations) {
      const item = el("li", "conversation");
      item.dataset.id = c.id;
      if (c.id === state.openId) item.classList.add("active");
      if (c.unreadCount > 0) item.classList.add("unread");
      const button = el("button", "conversation-button");
      button.type = "button";
      const face = el("div", "avatar");
      avatar(face, c);
      const body = el("div", "conversation-body");
      const top = el("div", "conversation-top");
      top.appendChild(el("span", "conversation-name", c.participantDisplayData.name));
      top.appendChild(el("time", "conversation-time", shortTime(c.lastActivityDate)));
      const bottom = el("div", "conversation-bottom");
      const channels = el("span", "conversation-channels");
      for (const type of c.channels) channels.appendChild(channelBadge(type));
      bottom.appendChild(channels);
      const last = c.lastMessage;
      let previewText = last ? last.text : "";
      if (last && last.visibility === "BUSINESS" && !last.system) previewText = "Note: " + previewText;
      else if (last && last.direction === "BUSINESS_TO_PARTICIPANT" && !last.system) previewText = "You: " + previewText;
      bottom.appendChild(el("span", "conversation-preview", previewText));
      if (c.unreadCount > 0) bottom.appendChild(el("span", "unread-count", c.unreadCount > 99 ? "99+" : c.unreadCount));
      body.append(top, bottom);
      button.append(face, body);
      button.addEventListener("click", () => openConversation(c.id));
      item.appendChild(button);
      list.appendChild(item);
    }
    $("list-empty").hidden = state.conversations.length > 0;
    $("list-empty").textContent = state.query ? "Nothing matches “" + state.query + "”." : "No conversations yet.";
    $("list-more").hidden = !state.hasMore;
  }

  function shortTime(value) {
    if (!value) return "";
    const when = new Date(value);
    const now = new Date();
    if (when.toDateString() === now.toDateString()) {
      return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    const days = (now - when) / 86400000;
    if (days < 6) return when.toLocaleDateString([], { weekday: "short" });
    return when.toLocaleDateString([], { day: "numeric", month: "short" });
  }

  function fullTime(value) {
    return new Date(value).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  // --- one conversation ----------------------------------------------------------------

  async function openConversation(id) {
    state.openId = id;
    if (location.hash.slice(1) !== id) history.replaceState(null, "", "#" + encodeURIComponent(id));
    document.body.classList.add("show-thread");
    for (const item of document.querySelectorAll(".conversation")) {
      item.classList.toggle("active", item.dataset.id === id);
    }
    $("thread-empty").hidden = true;
    $("thread-view").hidden = false;
    $("composer-error").hidden = true;
    try {
      const data = await api("conversations/" + encodeURIComponent(id));
      if (state.openId !== id) return;
      state.openId = data.conversation.id;
      state.thread = data;
      state.messages = new Map(data.messages.map((m) => [m.id, m]));
      renderThread(true);
    } catch (error) {
      if (error.status === 404) closeThread();
    }
  }

  async function reloadThread() {
    if (!state.openId) return;
    const data = await api("conversations/" + encodeURIComponent(state.openId));
    state.thread = data;
    state.messages = new Map(data.messages.map((m) => [m.id, m]));
    renderThread(false);
  }

  async function loadEarlier() {
    const first = [...state.messages.values()][0];
    if (!first) return;
    const data = await api("conversations/" + encodeURIComponent(state.openId) + "?before=" + first.sequence);
    const merged = new Map(data.messages.map((m) => [m.id, m]));
    for (const [id, m] of state.messages) merged.set(id, m);
    state.messages = merged;
    state.thread.hasMore = data.hasMore;
    const box = $("messages");
    const fromBottom = box.scrollHeight - box.scrollTop;
    renderMessages();
    box.scrollTop = box.scrollHeight - fromBottom;
  }

  function closeThread() {
    state.openId = null;
    state.thread = null;
    history.replaceState(null, "", location.pathname);
    document.body.classList.remove("show-thread");
    $("thread-view").hidden = true;
    $("thread-empty").hidden = false;
    for (const item of document.querySelectorAll(".conversation.active")) item.classList.remove("active");
  }

  function renderThread(scrollDown) {
    const c = state.thread.conversation;
    avatar($("thread-avatar"), c);
    $("thread-name").textContent = c.participantDisplayData.name;
    const ids = $("thread-identities");
    ids.replaceChildren();
    for (const identity of c.identities) {
      const chip = el("span", "identity");
      chip.appendChild(channelBadge(identity.channelType));
      chip.appendChild(el("span", "", identity.channelType === "CHAT" ? "Web chat visitor" : identity.address));
      if (identity.optedOut) chip.appendChild(el("span", "tag tag-danger", "opted out"));
      ids.appendChild(chip);
    }
    renderChannelPicker(c);
    renderNotices(c);
    renderMessages(scrollDown);
  }

  function renderChannelPicker(c) {
    const select = $("channel");
    const previous = select.value;
    select.replaceChildren();
    const auto = el("option", "", "Automatic");
    auto.value = "";
    select.appendChild(auto);
    const seen = new Set();
    for (const identity of c.identities) {
      if (seen.has(identity.channelId)) continue;
      seen.add(identity.channelId);
      const name = CHANNEL_NAMES[identity.channelType] || identity.channelType;
      const option = el("option", "", name + " · " + identity.channelId);
      option.value = identity.channelId;
      select.appendChild(option);
    }
    if (seen.has(previous)) select.value = previous;
    select.parentElement.hidden = seen.size < 2;
  }

  function renderNotices(c) {
    const box = $("notices");
    box.replaceChildren();
    for (const identity of c.identities) {
      if (identity.optedOut) {
        box.appendChild(notice("warn", "Opted out of " + (CHANNEL_NAMES[identity.channelType] || identity.channelType) +
          " (" + identity.channelId + "). Messages on this channel will be refused until they opt back in."));
      }
    }
    for (const [channelId, w] of Object.entries(c.windows || {})) {
      if (w.open) continue;
      if (w.agentOpen) {
        box.appendChild(notice("info", "The 24-hour window on " + channelId + " has closed. Agents may still reply until " +
          fullTime(w.closesDate) + " (human agent tag)."));
      } else {
        box.appendChild(notice("warn", "The messaging window on " + channelId + " closed on " + fullTime(w.closesDate) +
          ". Replies there are refused until the customer writes again."));
      }
    }
  }

  function notice(kind, text) {
    const node = el("div", "notice notice-" + kind);
    node.appendChild(icon(kind));
    node.appendChild(el("span", "", text));
    return node;
  }

  function renderMessages(scrollDown) {
    const box = $("messages");
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const list = $("message-list");
    list.replaceChildren();
    let lastDay = "";
    for (const message of [...state.messages.values()].sort((a, b) => Number(a.sequence) - Number(b.sequence))) {
      const day = new Date(message.createdDate).toDateString();
      if (day !== lastDay) {
        list.appendChild(el("div", "day-divider", new Date(message.createdDate).toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" })));
        lastDay = day;
      }
      list.appendChild(renderMessage(message));
    }
    $("messages-more").hidden = !(state.thread && state.thread.hasMore);
    if (scrollDown || nearBottom) box.scrollTop = box.scrollHeight;
  }

  function senderName(message) {
    const [kind, id] = Object.entries(message.sender)[0] || ["", ""];
    if (kind === "agentId") return state.me && id === state.me.username ? "You" : id;
    if (kind === "appId") return id === "inbox-gateway" ? "Gateway" : id + " (app)";
    return "";
  }

  function renderMessage(message) {
    const content = message.content || {};
    if (content.system) {
      const row = el("div", "system-notice");
      row.dataset.messageId = message.id;
      row.appendChild(icon("info"));
      row.appendChild(el("span", "", content.system.text));
      row.appendChild(el("time", "system-time", shortTime(message.createdDate)));
      return row;
    }
    const outgoing = message.direction === "BUSINESS_TO_PARTICIPANT";
    const note = message.visibility === "BUSINESS";
    const row = el("div", "message-row " + (outgoing ? "out" : "in") + (note ? " note" : ""));
    row.dataset.messageId = message.id;
    row.dataset.direction = message.direction;
    const bubble = el("div", "bubble");
    if (note) {
      const label = el("div", "note-label");
      label.appendChild(icon("note"));
      label.appendChild(el("span", "", "Internal note · only your team sees this"));
      bubble.appendChild(label);
    }
    renderContent(bubble, content, message);
    row.appendChild(bubble);
    row.appendChild(renderMeta(message, outgoing, note));
    if (message.delivery && message.delivery.status === "FAILED") {
      const error = message.delivery.error || {};
      const failure = el("div", "failure");
      failure.appendChild(icon("warn"));
      failure.appendChild(el("span", "", "Not delivered: " + (error.message || "unknown error") + (error.code ? " (" + error.code + ")" : "")));
      row.appendChild(failure);
    }
    return row;
  }

  function renderMeta(message, outgoing, note) {
    const meta = el("div", "meta");
    const who = outgoing ? senderName(message) : "";
    if (who) meta.appendChild(el("span", "who", who));
    const channelId = outgoing ? (message.targetChannelIds || [])[0] : message.sourceChannelId;
    const type = outgoing ? (message.targetChannels || [])[0] : message.sourceChannel;
    if (channelId && type) {
      const via = el("span", "via");
      via.appendChild(channelBadge(type));
      via.title = "via " + channelId;
      meta.appendChild(via);
    }
    const time = el("time", "", shortTime(message.createdDate));
    time.title = fullTime(message.createdDate);
    meta.appendChild(time);
    if (outgoing && !note && message.delivery) meta.appendChild(ticks(message.delivery));
    return meta;
  }

  function ticks(delivery) {
    const labels = { PENDING: "Sending…", SENT: "Sent", DELIVERED: "Delivered", READ: "Read", FAILED: "Failed" };
    const marks = { PENDING: "◷", SENT: "✓", DELIVERED: "✓✓", READ: "✓✓", FAILED: "!" };
    const node = el("span", "ticks ticks-" + delivery.status.toLowerCase(), marks[delivery.status] || "");
    node.title = labels[delivery.status] || delivery.status;
    node.setAttribute("aria-label", node.title);
    node.dataset.status = delivery.status;
    return node;
  }

  // Where the page loads a customer's media from: the gateway's media proxy for channels
  // whose provider needs credentials (Twilio), else the URL itself. Null: not a loadable URL.
  function mediaSource(url, message) {
    const safe = safeUrl(url);
    if (!safe) return null;
    const channelId = message.sourceChannelId;
    const inbound = message.direction === "PARTICIPANT_TO_BUSINESS";
    if (inbound && channelId && state.mediaChannels.includes(channelId)) {
      const query = { channelId: channelId, messageId: message.id, url: safe };
      return { href: "/inbox/api/media?" + new URLSearchParams(query).toString(), host: null };
    }
    return { href: safe, host: new URL(safe).host };
  }

  // A web chat visitor (or anyone writing a participant's message without a provider behind
  // it) chooses their image URLs: loading one would tell that host the agent is reading, or
  // make the agent's browser reach hosts only it can. Such images load on a click that shows
  // the host first; provider media (Messenger's CDN, Twilio through the proxy) load at once.
  function chosenByVisitor(message) {
    if (!message || message.direction !== "PARTICIPANT_TO_BUSINESS") return false;
    const channel = state.channels[message.sourceChannelId];
    return !channel || channel.channelType === "CHAT";
  }

  function picture(source, message, make) {
    if (!source.host || !chosenByVisitor(message)) return make();
    const button = el("button", "image-deferred");
    button.type = "button";
    button.appendChild(icon("image"));
    button.appendChild(el("span", "", "Show image from " + source.host));
    button.title = "Loads " + source.href;
    button.addEventListener("click", () => button.replaceWith(make()));
    return button;
  }

  function textBlock(text) {
    return el("div", "text", text);
  }

  function anchor(href, label, cls) {
    const a = el("a", cls || "", label);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    return a;
  }

  function link(url, label, cls) {
    const safe = safeUrl(url);
    if (!safe) return el("span", cls || "", label + (url ? " (" + url + ")" : ""));
    return anchor(safe, label, cls);
  }

  function imageBlock(image, message) {
    const source = mediaSource(image.url, message);
    if (!source) return textBlock("[image] " + (image.url || ""));
    return picture(source, message, () => {
      const a = anchor(source.href, "", "image-link");
      const img = el("img", "image");
      img.src = source.href;
      img.alt = image.filename || "Image";
      img.loading = "lazy";
      img.referrerPolicy = "no-referrer";
      a.appendChild(img);
      return a;
    });
  }

  function smallImage(url, cls, message) {
    const safe = safeUrl(url);
    if (!safe) return null;
    return picture({ href: safe, host: new URL(safe).host }, message, () => {
      const img = el("img", cls);
      img.src = safe;
      img.alt = "";
      img.referrerPolicy = "no-referrer";
      return img;
    });
  }

  function fileBlock(file, message) {
    const source = mediaSource(file.url, message);
    const box = el("div", "file");
    box.appendChild(icon("file"));
    const name = file.filename || (file.url || "").split("/").pop() || "File";
    box.appendChild(source ? anchor(source.href, name) : el("span", "", name));
    if (file.mimeType) box.appendChild(el("span", "muted small", file.mimeType));
    return box;
  }

  function buttonsBlock(buttons) {
    const box = el("div", "card-buttons");
    for (const b of buttons || []) {
      if (b.launchUrl) {
        const a = link(b.launchUrl, b.label, "card-button link");
        if (a.prepend) a.prepend(icon("link"));
        box.appendChild(a);
      } else {
        const chip = el("span", "card-button postback");
        chip.appendChild(icon("reply"));
        chip.appendChild(el("span", "", b.label));
        const id = b.postbackProperties && b.postbackProperties.interactionId;
        if (id) chip.title = "Postback: " + id;
        box.appendChild(chip);
      }
    }
    return box;
  }

  function renderContent(bubble, content, message) {
    if (content.basic) {
      for (const item of content.basic.items || []) {
        if (item.text !== undefined && item.text !== null) bubble.appendChild(textBlock(item.text));
        else if (item.image) bubble.appendChild(imageBlock(item.image, message));
        else if (item.file) bubble.appendChild(fileBlock(item.file, message));
      }
    } else if (content.minimal) {
      const m = content.minimal;
      const row = el("div", "minimal");
      const iconImage = smallImage(m.iconUrl, "minimal-icon", message);
      if (iconImage) row.appendChild(iconImage);
      row.appendChild(m.url ? link(m.url, m.text) : textBlock(m.text));
      bubble.appendChild(row);
    } else if (content.template) {
      const t = content.template;
      bubble.classList.add("card");
      const cardImage = smallImage(t.imageUrl, "card-image", message);
      if (cardImage) bubble.appendChild(cardImage);
      if (t.title) bubble.appendChild(el("div", "card-title", t.title));
      for (const line of t.textLines || []) bubble.appendChild(textBlock(line));
      if (t.buttons && t.buttons.length) bubble.appendChild(buttonsBlock(t.buttons));
    } else if (content.form) {
      const f = content.form;
      bubble.classList.add("card", "form");
      if (f.title) bubble.appendChild(el("div", "card-title", f.title));
      if (f.description) bubble.appendChild(textBlock(f.description));
      const dl = el("dl", "form-fields");
      for (const field of f.fields || []) {
        dl.appendChild(el("dt", "", field.name));
        dl.appendChild(el("dd", "", field.value));
      }
      bubble.appendChild(dl);
      for (const media of f.media || []) {
        if (media.image) bubble.appendChild(imageBlock(media.image, message));
        else if (media.file) bubble.appendChild(fileBlock(media.file, message));
      }
    } else {
      bubble.appendChild(textBlock(content.previewText || "(empty message)"));
    }
  }

  // --- the composer --------------------------------------------------------------------

  function setMode(mode) {
    state.mode = mode;
    for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.mode === mode);
    $("template-editor").hidden = mode !== "template";
    $("composer").classList.toggle("note-mode", mode === "note");
    $("reply-text").placeholder = mode === "note" ? "Write a note for your team (the customer won't see it)…"
      : mode === "template" ? "Optional text line below the card lines…" : "Write a reply…";
    $("send").querySelector(".send-label").textContent = mode === "note" ? "Add note" : "Send";
    if (mode === "template" && !$("tpl-buttons").children.length) addTemplateButton();
  }

  function addTemplateButton() {
    const rows = $("tpl-buttons");
    if (rows.children.length >= 10) return;
    const row = el("div", "tpl-button");
    const label = el("input", "tpl-label");
    label.placeholder = "Button label";
    label.maxLength = 100;
    const kind = el("select", "tpl-kind");
    for (const [value, text] of [["postback", "Reply"], ["link", "Link"]]) {
      const option = el("option", "", text);
      option.value = value;
      kind.appendChild(option);
    }
    const value = el("input", "tpl-value");
    value.placeholder = "Reply id (optional)";
    kind.addEventListener("change", () => {
      value.placeholder = kind.value === "link" ? "https://…" : "Reply id (optional)";
    });
    const remove = el("button", "icon-button remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", "Remove button");
    remove.addEventListener("click", () => row.remove());
    row.append(label, kind, value, remove);
    rows.appendChild(row);
  }

  function slug(text) {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "choice";
  }

  function composeContent() {
    const text = $("reply-text").value.trim();
    if (state.mode !== "template") {
      if (!text) return null;
      return { basic: { items: [{ text: text }] } };
    }
    const title = $("tpl-title").value.trim();
    const lines = $("tpl-lines").value.split("\n").map((l) => l.trim()).filter(Boolean);
    if (text) lines.push(text);
    const buttons = [];
    for (const row of $("tpl-buttons").children) {
      const label = row.querySelector(".tpl-label").value.trim();
      const kind = row.querySelector(".tpl-kind").value;
      const value = row.querySelector(".tpl-value").value.trim();
      if (!label) continue;
      if (kind === "link") buttons.push({ label: label, launchUrl: value });
      else buttons.push({ label: label, postbackProperties: { interactionId: value || slug(label) } });
    }
    if (!title && !lines.length && !buttons.length) return null;
    const template = {};
    if (title) template.title = title;
    if (lines.length) template.textLines = lines;
    if (buttons.length) template.buttons = buttons;
    return { template: template };
  }

  function resetComposer() {
    $("reply-text").value = "";
    $("tpl-title").value = "";
    $("tpl-lines").value = "";
    $("tpl-buttons").replaceChildren();
    autosize();
    if (state.mode === "template") addTemplateButton();
  }

  async function onSend(event) {
    event.preventDefault();
    if (!state.openId) return;
    const content = composeContent();
    const error = $("composer-error");
    if (!content) {
      error.textContent = state.mode === "template" ? "Give the card a title, a line or a button." : "Write something first.";
      error.hidden = false;
      return;
    }
    const message = { content: content };
    if (state.mode === "note") message.visibility = "BUSINESS";
    const channel = $("channel").value;
    if (channel && state.mode !== "note") message.targetChannelIds = [channel];
    const button = $("send");
    button.disabled = true;
    try {
      const data = await api("conversations/" + encodeURIComponent(state.openId) + "/messages", { method: "POST", json: { message: message } });
      error.hidden = true;
      resetComposer();
      upsertMessage(data.message);
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
      $("reply-text").focus();
    }
  }

  function autosize() {
    const area = $("reply-text");
    area.style.height = "auto";
    area.style.height = Math.min(area.scrollHeight, 180) + "px";
  }

  // --- live updates --------------------------------------------------------------------

  function upsertMessage(message) {
    if (!state.thread || message.conversationId !== state.openId) return;
    const known = state.messages.get(message.id);
    // A delivery news may have arrived before the send answer: keep the furthest status.
    if (known && known.delivery && message.delivery && rank(known.delivery.status) > rank(message.delivery.status)) {
      message.delivery = known.delivery;
    }
    state.messages.set(message.id, message);
    renderMessages();
  }

  function rank(status) {
    return { PENDING: 0, SENT: 1, DELIVERED: 2, READ: 3, FAILED: 4 }[status] || 0;
  }

  function onEvent(event) {
    const body = (event.actionEvent && event.actionEvent.body) || {};
    switch (event.slug) {
      case "message_sent_to_business":
      case "message_sent_to_participant":
        if (body.message) upsertMessage(body.message);
        refreshListSoon();
        break;
      case "message_delivery_updated": {
        const known = state.messages.get(body.messageId);
        if (known && body.delivery && (rank(body.delivery.status) >= rank((known.delivery || {}).status) || body.delivery.status === "FAILED")) {
          known.delivery = body.delivery;
          renderMessages();
        }
        break;
      }
      case "conversations_merged":
        if ((body.oldConversationIds || []).includes(state.openId)) openConversation(body.targetConversationId);
        else if (body.targetConversationId === state.openId) reloadThread().catch(() => {});
        refreshListSoon();
        break;
      default:
        refreshListSoon();
    }
  }

  function setLive(on, text) {
    const dot = $("live-dot");
    dot.classList.toggle("on", on);
    dot.title = text;
  }

  function connect() {
    closeSocket();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/inbox/ws");
    state.socket = socket;
    socket.addEventListener("open", () => {
      const wasDown = state.retry > 0;
      state.retry = 0;
      setLive(true, "Live");
      // Whatever happened while the socket was down comes back with a fresh read.
      if (wasDown) {
        refreshListSoon();
        reloadThread().catch(() => {});
      }
    });
    socket.addEventListener("message", (msg) => {
      let data;
      try { data = JSON.parse(msg.data); } catch (_) { return; }
      if (data && data.slug) onEvent(data);
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      // 4401: the session ended (logged out elsewhere, or the password changed)
      if (event.code === 4401) {
        state.socket = null;
        api("me").catch(() => {});
        return;
      }
      setLive(false, "Reconnecting…");
      state.retry += 1;
      const delay = Math.min(30000, 500 * 2 ** Math.min(state.retry, 6));
      setTimeout(() => {
        if (state.socket === socket) connect();
      }, delay);
    });
  }

  function closeSocket() {
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close();
  }

  // --- start ---------------------------------------------------------------------------

  function init() {
    for (const node of document.querySelectorAll("[data-icon]")) node.appendChild(icon(node.dataset.icon));
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    $("back").addEventListener("click", closeThread);
    $("composer").addEventListener("submit", onSend);
    $("list-more").addEventListener("click", () => loadMore().catch(() => {}));
    $("messages-more").addEventListener("click", () => loadEarlier().catch(() => {}));
    $("tpl-add-button").addEventListener("click", addTemplateButton);
    for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => setMode(tab.dataset.mode));
    const area = $("reply-text");
    area.addEventListener("input", autosize);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("composer").requestSubmit();
      }
    });
    let searchTimer = null;
    $("search").addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => searchConversations($("search").value.trim()).catch(() => {}), 250);
    });
    start().catch((error) => {
      if (error.status !== 401) showLogin(error.message);
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
