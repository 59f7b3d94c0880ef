/* scanquote embed: draws an order's WeChat QR code and its live status into the page.
 *
 *   <script src="https://quote.example.com/embed.js" data-order="ORDER_TOKEN" async></script>
 *
 * The code appears where the script tag is (or inside the element data-target names),
 * is replaced before it expires, and the status turns to "已发送到您的微信" once the
 * visitor's WeChat has the quote. The page's origin must be in scanquote's
 * EMBED_ORIGINS. No framework, no cookies, nothing global but the box it draws.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var token = script.getAttribute("data-order") || "";
  var src = new URL(script.src, document.baseURI);
  var base = src.origin + src.pathname.replace(/embed\.js$/, "");
  var labels = {
    waiting: "等待扫码",
    sending: "扫码成功，正在发送到您的微信…",
    sent: "已发送到您的微信",
    failed: "发送失败，请重新扫码",
    unknown: "可能已发送，请在微信中查看；没有收到请重新扫码"
  };

  var box = document.createElement("div");
  box.className = "scanquote-embed";
  box.setAttribute("role", "group");
  box.setAttribute("aria-label", "用微信扫码保存报价");
  box.style.cssText = "box-sizing:border-box;max-width:280px;padding:12px;border:1px solid #e5e5ea;" +
    "border-radius:12px;background:#fff;text-align:center;font:15px/1.5 -apple-system,'PingFang SC'," +
    "'Noto Sans CJK SC','Microsoft YaHei',sans-serif;color:#1d1d1f";
  var img = document.createElement("img");
  img.alt = "保存报价的微信二维码，用微信扫一扫";
  img.width = 240; img.height = 240;
  img.style.cssText = "display:block;width:240px;max-width:100%;height:auto;margin:0 auto";
  var hint = document.createElement("p");
  hint.textContent = "用微信扫一扫，保存这份报价";
  hint.style.cssText = "margin:8px 0 4px;font-weight:600";
  var status = document.createElement("p");
  status.className = "scanquote-status";
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  status.dataset.status = "waiting";
  status.textContent = labels.waiting;
  status.style.cssText = "margin:0;padding:6px;border-radius:8px;background:#eef0f2;font-weight:600";
  box.appendChild(img); box.appendChild(hint); box.appendChild(status);

  var target = script.getAttribute("data-target");
  var host = target && document.querySelector(target);
  if (host) host.appendChild(box); else script.parentNode.insertBefore(box, script.nextSibling);

  if (!/^[A-Za-z0-9_-]{32}$/.test(token)) {
    status.textContent = "报价链接不完整，请刷新页面";
    return;
  }
  var api = base + "api/orders/" + token;
  var expiresAt = 0;

  function show(s) {
    if (status.dataset.status === s) return;
    status.dataset.status = s;
    status.textContent = labels[s] || s;
    status.style.background = s === "sent" ? "#e6f6ec" : s === "failed" ? "#fdecea" : s === "sending" ? "#e3f2fd" : "#eef0f2";
    status.style.color = s === "sent" ? "#05713e" : s === "failed" ? "#c62828" : "#1d1d1f";
  }
  function loadCode() {
    fetch(api + "/qrcode").then(function (r) { if (!r.ok) throw r; return r.json(); }).then(function (q) {
      expiresAt = Date.now() + q.expire_seconds * 1000;
      img.src = q.image_url + "?t=" + encodeURIComponent(q.ticket.slice(-12));
    }).catch(function () { setTimeout(loadCode, 5000); });
  }
  function poll() {
    fetch(api + "/status").then(function (r) { if (!r.ok) throw r; return r.json(); })
      .then(function (s) { show(s.status); }).catch(function () {});
  }
  // A code about to expire is replaced in place: the page never shows a dead code.
  setInterval(function () {
    if (expiresAt && expiresAt - Date.now() < 60000) { expiresAt = 0; loadCode(); }
  }, 1000);
  setInterval(poll, 2000);
  loadCode(); poll();
})();
