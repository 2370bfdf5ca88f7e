// Texts in zh-CN and en, chosen from the browser's languages; money and time formatting.
// Plain ES module, no dependencies. t('key', {n: 3}) fills {n} placeholders.

const en = {
  title: 'livecart',
  home_live: 'Live now', home_upcoming: 'Upcoming', home_empty: 'No live or upcoming shows right now.',
  home_watch: 'Watch', home_starts: 'Starts {time}', home_error: 'Could not load the rooms; retrying…',
  live: 'LIVE', reconnecting: 'Reconnecting', offline: 'Offline', ended: 'Ended',
  viewers: '{n} watching', likes_label: '{n} likes', like: 'Like',
  back: 'All shows', unmute: 'Tap to unmute', mute: 'Mute',
  quality: 'Quality', auto: 'Auto', source: 'Original', auto_rung: 'Auto · {rung}', rung_unavailable: '{rung} is not available for this show',
  stage_connecting: 'Connecting to the show…', stage_offline: 'The show has not started yet',
  stage_creator_reconnecting: 'The creator is reconnecting…', stage_ended: 'This show has ended',
  stage_no_room: 'This room does not exist', stage_video_retry: 'Reconnecting the video…',
  conn_lost: 'Connection lost, reconnecting…', conn_back: 'Back online',
  store_lost: 'Shopping is reconnecting… the show goes on',
  pinned_tag: 'Now showing', buy: 'Buy', buy_now: 'Buy now', add_to_cart: 'Add to cart',
  stock: '{n} in stock', low_stock: 'Only {n} left', sold_out: 'Sold out', from_price: 'from {price}',
  bag: 'Shopping bag', bag_count: 'Shopping bag, {n} products', cart: 'Cart', cart_count: 'Cart, {n} items',
  close: 'Close', quantity: 'Quantity', decrease: 'One less', increase: 'One more', remove: 'Remove',
  option: 'Option', added: 'Added to your cart',
  flash_title: 'Flash sale', flash_ends_in: 'Ends in', flash_starts_in: 'Starts in', flash_grab: 'Grab it',
  flash_limit: 'Limit {n} per person', flash_limit_reached: 'Limit reached', flash_progress: '{sold} sold · {left} left',
  flash_ended: 'Sale ended', flash_soon: 'Soon',
  coupon_drop: 'Coupon: {title}', claim: 'Claim', claimed: 'Claimed', coupon_claimed: 'Coupon claimed: {title}',
  coupon_left: '{n} left', coupon_none: 'No coupon', coupon_label: 'Coupon', coupons: 'Coupons',
  coupon_min: 'spend {min}', coupon_fixed: '{amount} off', coupon_percent: '{pct}% off', coupon_cap: 'up to {amount}',
  coupon_threshold: '{amount} off over {min}', coupon_needs: 'Needs {min}',
  subtotal: 'Subtotal', discount: 'Coupon', total: 'Total', checkout: 'Check out', cart_empty: 'Your cart is empty',
  orders: 'My orders', order_placed: 'Order placed', order_id: 'Order', pay_by: 'Pay by {time}',
  pay_left: '{time} left to pay', cancel_order: 'Cancel order', ok: 'OK',
  state_pending: 'Awaiting payment', state_paid: 'Paid', state_cancelled: 'Cancelled', state_expired: 'Expired',
  chat: 'Chat', chat_placeholder: 'Say something…', chat_signin: 'Sign in to chat', send: 'Send',
  slow_mode: 'Slow mode: one message every {n} s', muted_until: 'You are muted until {time}: {reason}',
  muted_noreason: 'You are muted until {time}', banned: 'You are banned from this chat', only_you: 'only you can see this',
  wait_s: 'Wait {n} s',
  sign_in: 'Sign in', sign_out: 'Sign out', your_name: 'Your name', signed_in_as: 'Signed in as {name}',
  dev_note: 'Development sign-in: any name works. A shop replaces this with its own login.',
  sign_in_off: 'Sign-in is done on the shop\'s site.', sign_in_needed: 'Sign in to buy and chat',
  err_sold_out: 'Sold out', err_out_of_stock: 'Not enough stock', err_limit_exceeded: 'Purchase limit reached',
  err_hold_limit_exceeded: 'You hold the most allowed of this item in unpaid orders: pay or cancel one first',
  err_invalid_name: 'Your name cannot be shown in chat: sign in with another name',
  err_sale_not_live: 'The sale is not running', err_coupon_unavailable: 'This coupon is not available',
  err_coupon_not_applicable: 'The coupon does not apply to this order', err_cart_empty: 'Your cart is empty',
  err_invalid_state: 'Not possible any more', err_slow_mode: 'Slow mode: please wait',
  err_rate_limited: 'Too fast, please wait', err_muted: 'You are muted', err_banned: 'You are banned from chat',
  err_unauthorized: 'Please sign in first', err_not_found: 'Not found', err_invalid_argument: 'Not accepted',
  err_internal_error: 'Something went wrong, please try again', err_closed: 'The show has ended',
  err_generic: 'Something went wrong ({code})', err_token: 'Your sign-in expired; please sign in again',
  replay: 'Replay', replay_loading: 'Loading the replay…', replay_none: 'This show has no replay yet',
  replay_failed: 'The replay could not be loaded', replay_no_player: 'This browser cannot play the replay',
  replay_no_room: 'This room does not exist', replay_streamed: 'Streamed {time}', retry: 'Try again',
  chapters: 'Products in this show', chapters_none: 'No products were shown in this show',
  chapter_tag: 'In this part', chapter_go: 'Jump to {time}: {title}',
  play: 'Play', pause: 'Pause', seek: 'Position in the replay', not_available: 'No longer available',
  group: 'Group buy', group_size: '{n}-person team', group_start: 'Start a team', group_join: 'Join', group_left: '{n} left',
  group_none: 'No group deals right now', team_need: '{n} more to go', team_formed: 'Team formed',
  team_failed: 'Team failed', team_in: 'You are in', team_mine: 'My teams', team_share: 'Share link', copy: 'Copy',
  copied: 'Link copied', team_invite: '{name} invites you to a team: join for the group price',
  team_gone: 'This team is no longer open', team_formed_pay: 'Team formed! Pay by {time}', pay: 'Pay',
  waiting_team: 'Waiting for the team', group_order: 'Group buy', group_from: 'Group {price}',
  gifts: 'Gifts', coins: '{n} coins', top_up: 'Top up:', gift_sent: 'sent {name}', leaderboard: 'Top gifters',
  earnings: 'Creator earned {coins} coins ({money})', board_empty: 'No gifts yet', coins_order: '{n} coins',
  promo_discount: 'Promotion', promo_bogo: 'Buy {buy} get {free}',
  promo_pct: '{n}% off', promo_fixed: '{amount} off',
  err_team_full: 'The team is full', err_insufficient_coins: 'Not enough coins: top up first',
  err_unsupported: 'Not available yet',
};

const zh = {
  title: 'livecart 直播',
  home_live: '正在直播', home_upcoming: '即将开播', home_empty: '现在没有直播，稍后再来看看。',
  home_watch: '进入直播间', home_starts: '{time} 开播', home_error: '直播列表加载失败，正在重试…',
  live: '直播中', reconnecting: '重连中', offline: '未开播', ended: '已结束',
  viewers: '{n} 人在看', likes_label: '{n} 个赞', like: '点赞',
  back: '全部直播', unmute: '点击开启声音', mute: '静音',
  quality: '清晰度', auto: '自动', source: '原画', auto_rung: '自动 · {rung}', rung_unavailable: '本场直播没有 {rung} 清晰度',
  stage_connecting: '正在进入直播间…', stage_offline: '直播还没有开始',
  stage_creator_reconnecting: '主播网络不稳定，正在重连…', stage_ended: '本场直播已结束',
  stage_no_room: '直播间不存在', stage_video_retry: '视频重新连接中…',
  conn_lost: '网络断开，正在重连…', conn_back: '已恢复连接',
  store_lost: '购物服务重连中…直播继续',
  pinned_tag: '讲解中', buy: '购买', buy_now: '立即购买', add_to_cart: '加入购物车',
  stock: '库存 {n}', low_stock: '仅剩 {n} 件', sold_out: '已售罄', from_price: '{price}起',
  bag: '购物袋', bag_count: '购物袋，{n} 件商品', cart: '购物车', cart_count: '购物车，{n} 件',
  close: '关闭', quantity: '数量', decrease: '减少一件', increase: '增加一件', remove: '删除',
  option: '规格', added: '已加入购物车',
  flash_title: '限时秒杀', flash_ends_in: '距结束', flash_starts_in: '距开始', flash_grab: '马上抢',
  flash_limit: '每人限购 {n} 件', flash_limit_reached: '已达限购', flash_progress: '已抢 {sold} 件 · 剩 {left} 件',
  flash_ended: '活动已结束', flash_soon: '即将开始',
  coupon_drop: '优惠券：{title}', claim: '领取', claimed: '已领取', coupon_claimed: '领取成功：{title}',
  coupon_left: '剩 {n} 张', coupon_none: '不使用优惠券', coupon_label: '优惠券', coupons: '优惠券',
  coupon_min: '满 {min} 可用', coupon_fixed: '立减 {amount}', coupon_percent: '{pct}% 折扣', coupon_cap: '最多减 {amount}',
  coupon_threshold: '满 {min} 减 {amount}', coupon_needs: '需满 {min}',
  subtotal: '商品金额', discount: '优惠券', total: '合计', checkout: '去结算', cart_empty: '购物车是空的',
  orders: '我的订单', order_placed: '订单已提交', order_id: '订单号', pay_by: '请在 {time} 前完成支付',
  pay_left: '剩余支付时间 {time}', cancel_order: '取消订单', ok: '好的',
  state_pending: '待支付', state_paid: '已支付', state_cancelled: '已取消', state_expired: '已过期',
  chat: '聊天', chat_placeholder: '说点什么…', chat_signin: '登录后参与聊天', send: '发送',
  slow_mode: '慢速模式：每 {n} 秒可发言一次', muted_until: '你已被禁言至 {time}，原因：{reason}',
  muted_noreason: '你已被禁言至 {time}', banned: '你已被禁止在本直播间发言', only_you: '仅自己可见',
  wait_s: '{n} 秒后可发言',
  sign_in: '登录', sign_out: '退出登录', your_name: '昵称', signed_in_as: '当前账号：{name}',
  dev_note: '开发用登录：输入任意昵称即可。正式环境由商家的账号系统登录。',
  sign_in_off: '请在商家网站登录后进入直播间。', sign_in_needed: '登录后才能购买和发言',
  err_sold_out: '已抢光', err_out_of_stock: '库存不足', err_limit_exceeded: '已达限购数量',
  err_hold_limit_exceeded: '未付款订单中该商品已达每人上限，请先付款或取消订单',
  err_invalid_name: '该昵称不能在聊天中显示，请换个昵称登录',
  err_sale_not_live: '活动未在进行中', err_coupon_unavailable: '优惠券已领完或不可领取',
  err_coupon_not_applicable: '订单不满足优惠券使用条件', err_cart_empty: '购物车是空的',
  err_invalid_state: '当前状态不能执行该操作', err_slow_mode: '慢速模式中，请稍后再发',
  err_rate_limited: '操作太快了，请稍后', err_muted: '你已被禁言', err_banned: '你已被禁止发言',
  err_unauthorized: '请先登录', err_not_found: '未找到', err_invalid_argument: '请求无效',
  err_internal_error: '出错了，请重试', err_closed: '直播已结束',
  err_generic: '出错了（{code}）', err_token: '登录已过期，请重新登录',
  replay: '回放', replay_loading: '正在加载回放…', replay_none: '这场直播还没有回放',
  replay_failed: '回放加载失败', replay_no_player: '此浏览器无法播放回放',
  replay_no_room: '直播间不存在', replay_streamed: '直播于 {time}', retry: '重试',
  chapters: '本场讲解商品', chapters_none: '本场直播没有讲解商品',
  chapter_tag: '讲解回放', chapter_go: '跳到 {time}：{title}',
  play: '播放', pause: '暂停', seek: '回放进度', not_available: '已下架',
  group: '拼团', group_size: '{n}人团', group_start: '发起拼团', group_join: '参团', group_left: '剩 {n} 件',
  group_none: '暂无拼团活动', team_need: '还差 {n} 人', team_formed: '已成团',
  team_failed: '拼团失败', team_in: '已参团', team_mine: '我的拼团', team_share: '分享链接', copy: '复制',
  copied: '链接已复制', team_invite: '{name} 邀请你参团，成团即享拼团价',
  team_gone: '该团已结束或已满员', team_formed_pay: '拼团成功，已成团！请在 {time} 前支付', pay: '去支付',
  waiting_team: '等待成团', group_order: '拼团', group_from: '拼团 {price}',
  gifts: '礼物', coins: '{n} 金币', top_up: '充值：', gift_sent: '送出 {name}', leaderboard: '打赏榜',
  earnings: '主播收益 {coins} 金币（{money}）', board_empty: '还没有人送礼物', coins_order: '{n} 金币',
  promo_discount: '促销优惠', promo_bogo: '买{buy}送{free}',
  promo_pct: '立减 {n}%', promo_fixed: '立减 {amount}',
  err_team_full: '该团已满员', err_insufficient_coins: '金币不足，请先充值',
  err_unsupported: '暂未开放',
};

function pickLang(langs) {
  for (const l of langs) {
    const s = String(l).toLowerCase();
    if (s.startsWith('zh')) return 'zh-CN';
    if (s.startsWith('en')) return 'en';
  }
  return 'en';
}

export const lang = pickLang(typeof navigator !== 'undefined' ? (navigator.languages?.length ? navigator.languages : [navigator.language]) : ['en']);
const table = lang === 'zh-CN' ? zh : en;

export function t(key, vars) {
  let s = table[key] ?? en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// Error text for a protocol error code (docs/protocol.md, "Error codes").
export function errorText(code) {
  return table[`err_${code}`] ?? t('err_generic', { code });
}

const moneyFormats = new Map();
// Money is an integer in minor units of `currency` with `exp` fraction digits (2 for CNY).
export function money(minor, currency = 'CNY', exp = 2) {
  const key = `${currency}/${exp}`;
  let f = moneyFormats.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat(lang, { style: 'currency', currency, minimumFractionDigits: exp, maximumFractionDigits: exp });
    } catch {
      f = { format: (v) => `${v.toFixed(exp)} ${currency}` }; // an unknown currency code
    }
    moneyFormats.set(key, f);
  }
  return f.format(Number(minor) / 10 ** exp);
}

const clockFormat = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', hour12: false });
const dateFormat = new Intl.DateTimeFormat(lang, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
export const clockTime = (ms) => clockFormat.format(new Date(ms));
export const dateTime = (ms) => dateFormat.format(new Date(ms));

// mm:ss (or h:mm:ss) for a duration in ms, rounded up so "00:00" means over.
export function countdown(ms) {
  return mediaTime(Math.ceil(ms / 1000));
}

// mm:ss (or h:mm:ss from an hour) for a position in a video, in seconds, rounded down.
export function mediaTime(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(r)}` : `${two(m)}:${two(r)}`;
}

export function compact(n) {
  if (n < 10000) return String(n);
  return lang === 'zh-CN' ? `${(n / 10000).toFixed(n < 100000 ? 1 : 0)}万` : `${(n / 1000).toFixed(n < 100000 ? 1 : 0)}k`;
}

// Fills [data-i18n] text, [data-i18n-label] aria-label/title and [data-i18n-ph] placeholders.
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
    el.title = t(el.dataset.i18nLabel);
  }
  for (const el of root.querySelectorAll('[data-i18n-ph]')) el.placeholder = t(el.dataset.i18nPh);
}
