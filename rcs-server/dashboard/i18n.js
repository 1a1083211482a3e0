// rcs dashboard: its words in English and Simplified Chinese. `t(english, vars)` gives the
// string in the chosen language (`{name}` filled from `vars`); elements of index.html marked
// `data-t` (their text, titles, placeholders and labels) and `data-ta` (those attributes only)
// are translated by `apply`. The language is the one chosen in the header (kept in localStorage), else the
// browser's. Identifiers of the API (event kinds, alarm codes, node names) stay as they are.
'use strict';

window.rcsI18n = (() => {
  const LANG_KEY = 'rcs.lang';
  const ZH = {
    // page, header, sign-in
    'rcs — fleet': 'rcs — 车队',
    Map: '地图',
    map: '地图',
    Fit: '适应窗口',
    'Fit the map to the window': '将地图缩放到窗口大小',
    'Live stream': '实时数据流',
    'The rcs-server instance this page talks to': '本页面连接的 rcs-server 实例',
    'Log out': '退出登录',
    'fleet map': '车队地图',
    Language: '语言',
    'Sign in with an API token (viewer, operator or admin).': '使用 API 令牌登录(查看者、操作员或管理员)。',
    token: '令牌',
    'Sign in': '登录',
    'Unknown token.': '未知令牌。',
    'The token is no longer accepted: sign in again.': '令牌已不再有效:请重新登录。',
    viewer: '查看者',
    operator: '操作员',
    admin: '管理员',
    '{name} · {role}': '{name} · {role}',
    live: '实时',
    reconnecting: '正在重连',
    '{online} online / {total} AGVs': '在线 {online} / 共 {total} 台 AGV',
    // several instances
    active: '主用',
    standby: '备用',
    '{me} · {role} · epoch {epoch}': '{me} · {role} · 任期 {epoch}',
    '{me} · standby (read-only)': '{me} · 备用(只读)',
    '{me} · not answering': '{me} · 无响应',
    'following the failover to {addr}…': '正在跟随故障切换到 {addr}…',
    '{name} ({building}, floor {floor})': '{name}({building},{floor} 层)',
    // side panel
    AGV: 'AGV',
    Close: '关闭',
    Pause: '暂停',
    Resume: '恢复',
    'Send to charger': '去充电',
    'Cancel task': '取消任务',
    Fleet: '车队',
    Tasks: '任务',
    Waits: '等待',
    Alarms: '报警',
    Events: '事件',
    'filter by state': '按状态筛选',
    'all AGVs': '全部 AGV',
    online: '在线',
    offline: '离线',
    'AGV id': 'AGV 编号',
    State: '状态',
    Battery: '电量',
    Mode: '模式',
    Task: '任务',
    Kind: '类型',
    To: '目的地',
    Why: '原因',
    For: '已等待',
    secure: '安全',
    normal: '普通',
    guide: '指南',
    fast: '快速',
    gcm: 'GCM',
    ' · e-stop': ' · 急停',
    // details
    'AGV {id}': 'AGV {id}',
    Session: '会话',
    Pose: '位姿',
    Navigation: '导航',
    'E-stop': '急停',
    Localisation: '定位质量',
    Waiting: '等待',
    Identity: '身份',
    'Last seen': '最后通信',
    none: '无',
    ' (offline)': '(离线)',
    '{name} (floor {floor})': '{name}({floor} 层)',
    ' · charging': ' · 充电中',
    "#{id} (AGV's own)": '#{id}(AGV 自有任务)',
    ENGAGED: '已按下',
    off: '未按下',
    slam: 'SLAM',
    qr_code: '二维码',
    // node popup and actions
    'Node {id}': '节点 {id}',
    'AGV {id} (selected)': 'AGV {id}(已选中)',
    'any idle AGV': '任一空闲 AGV',
    'Send task here': '派任务到这里',
    'Task {id} submitted: {kind} to node {node}': '任务 {id} 已提交:{kind},目的地节点 {node}',
    'Task refused: {message}': '任务被拒绝:{message}',
    'AGV {id}: {action} acknowledged': 'AGV {id}:{action}已确认',
    'AGV {id}: task {task} to the nearest charger': 'AGV {id}:任务 {task},前往最近的充电桩',
    'Task {id} cancelled': '任务 {id} 已取消',
    'AGV {id}: its task {task} cancelled': 'AGV {id}:其任务 {task} 已取消',
    'AGV {id} has no task': 'AGV {id} 没有任务',
    'AGV {id}: {action} failed: {message}': 'AGV {id}:{action}失败:{message}',
    pause: '暂停',
    resume: '恢复',
    cancel: '取消',
    // task kinds and states
    move: '移动',
    pick: '取货',
    drop: '放货',
    park: '停车',
    charge: '充电',
    queued: '排队中',
    running: '执行中',
    completed: '已完成',
    failed: '失败',
    cancelled: '已取消',
    // AGV states
    initializing: '初始化',
    idle: '空闲',
    working: '工作中',
    paused: '已暂停',
    'waiting for release': '等待放行',
    'in safe space': '在安全空间内',
    'switching map': '切换地图',
    'switching navigation': '切换导航',
    charging: '充电中',
    manual: '手动',
    'emergency stop': '急停',
    fault: '故障',
    'link lost': '通信中断',
    'safety stop': '安全停车',
    // waits
    'waits for AGV {agv} at node {node}': '在节点 {node} 等待 AGV {agv}',
    'blocked by offline AGV {agv} at node {node}': '在节点 {node} 被离线的 AGV {agv} 阻挡',
    'waits for lift {lift}': '等待电梯 {lift}',
    'waits for grant {grant} of AGV {agv}': '等待 AGV {agv} 的安全空间授权 {grant}',
    'its AGV is offline': '其 AGV 离线',
    'lets AGV {to} pass': '让 AGV {to} 先行',
    settling: '稳定中',
    'its AGV charges first': '其 AGV 先充电',
    '{s} s': '{s} 秒',
    '{m} min {s} s': '{m} 分 {s} 秒',
    // legend and map
    grant: '安全空间授权',
    'reserved path': '预留路径',
    'waits for': '等待关系',
    'two-way lane': '双向车道',
    'one-way lane': '单向车道',
    'blocked lane': '封闭车道',
    forbidden: '禁行区',
    slow: '限速区',
    'one way': '单行区',
    'no stop': '禁停区',
    'qr zone': '二维码导航区',
    'slam zone': 'SLAM 导航区',
    'lift shaft': '电梯井',
    'charging area': '充电区',
    'no rotate': '禁止旋转区',
    pedestrian: '人行区',
    waypoint: '路径点',
    station: '工位',
    charger: '充电桩',
    'lift door': '电梯门',
    parking: '停车位',
    'lift {name}': '电梯 {name}',
  };

  const stored = (() => {
    try { return localStorage.getItem(LANG_KEY); } catch (_) { return null; }
  })();
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  let lang = stored === 'en' || stored === 'zh' ? stored : (/^zh\b/i.test(browser) ? 'zh' : 'en');
  // Strings asked for in Chinese that have no translation (the browser test keeps this empty).
  const missing = new Set();

  /** `en` in the chosen language, `{name}` filled from `vars`. */
  function t(en, vars) {
    let s = en;
    if (lang === 'zh') {
      if (Object.prototype.hasOwnProperty.call(ZH, en)) s = ZH[en]; else missing.add(en);
    }
    return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
  }

  /** An identifier of the API (`waiting_for_release`) in words of the chosen language. */
  const name = (id) => t(String(id ?? '').replace(/_/g, ' '));

  /** Translates what index.html marks: the text of `data-t` elements, and the `title`,
   * `placeholder` and `aria-label` of `data-t` and `data-ta` elements (the first time, the
   * English is kept in the element's dataset). */
  function apply(root = document) {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    for (const el of root.querySelectorAll('[data-t]')) {
      if (el.dataset.en === undefined) el.dataset.en = el.textContent.trim();
      el.textContent = t(el.dataset.en);
    }
    for (const el of root.querySelectorAll('[data-t], [data-ta]')) {
      for (const [attr, key] of [['title', 'enTitle'], ['placeholder', 'enPlaceholder'],
        ['aria-label', 'enLabel']]) {
        if (!el.hasAttribute(attr)) continue;
        if (el.dataset[key] === undefined) el.dataset[key] = el.getAttribute(attr);
        el.setAttribute(attr, t(el.dataset[key]));
      }
    }
  }

  function setLang(next) {
    lang = next === 'zh' ? 'zh' : 'en';
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* private mode: this page only */ }
    apply();
  }

  return {
    t,
    name,
    apply,
    setLang,
    lang: () => lang,
    missing: () => [...missing],
  };
})();
