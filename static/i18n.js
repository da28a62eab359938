// i18n.js: the one dictionary of every visible string (Chinese first,
// English on a switch), the language switch remembered in localStorage, and
// `GP.t(key, vars)` for scripts. Static markup names its strings with
// data-i18n (text), data-i18n-placeholder, data-i18n-title and
// data-i18n-label (aria-label); `GP.applyI18n()` fills them in.
'use strict';
(function () {
  const GP = (window.GP = window.GP || {});

  const DICT = {
    zh: {
      'app.name': '门岗通行',
      'lang.switch': 'English',
      'nav.logout': '退出',
      'common.loading': '加载中…',
      'common.save': '保存',
      'common.saved': '已保存',
      'common.refresh': '刷新',
      'common.none': '无',
      'common.yes': '是',
      'common.no': '否',
      'common.cancel': '取消',
      'common.error': '出错：{msg}',
      'common.offline': '连不上门岗服务，请检查网络',
      'common.forbidden': '您的角色无权进行此操作',
      'common.cross_origin': '此请求不是从本机页面发出的，已拒绝；请刷新页面后重试',
      'common.too_large': '文件太大，请分成几个文件上传',

      // login
      'login.title': '登录',
      'login.name': '用户名',
      'login.password': '密码或 PIN',
      'login.submit': '登录',
      'login.wrong': '用户名或密码不对',
      'login.limited': '尝试次数太多，请过一分钟再试',
      'login.hint': '保安用 PIN，社区工作人员用密码',

      // guard page
      'guard.title': '门岗扫码',
      'guard.scan.label': '扫码（或输入通行证号后按回车）',
      'guard.scan.placeholder': '请扫描通行证二维码',
      'guard.camera': '用摄像头扫码',
      'guard.camera.stop': '关闭摄像头',
      'guard.camera.error': '无法打开摄像头：{msg}',
      'guard.camera.hint': '把二维码对准取景框',
      'guard.dir.label': '方向',
      'guard.dir.auto': '自动',
      'guard.dir.out': '出',
      'guard.dir.in': '入',
      'guard.temp.label': '体温 °C（手测时填写）',
      'guard.temp.placeholder': '如 36.5',
      'guard.passno.label': '扫不出时输入通行证号',
      'guard.passno.placeholder': '8 位数字',
      'guard.passno.submit': '查验',
      'guard.state.thermometer': '体温计',
      'guard.state.log': '记录',
      'guard.state.clock': '时钟',
      'guard.state.ok': '正常',
      'guard.state.simulated': '模拟',
      'guard.state.off': '未接',
      'guard.state.down': '故障',
      'guard.state.unknown': '未知',
      'guard.state.log_bad': '不可写',
      'guard.state.clock_suspect': '可疑',
      'guard.out.count': '在外 {n} 人',
      'guard.out.overdue': '超时 {n} 人',
      'guard.out.title': '在外人员',
      'guard.out.empty': '目前没有人在外',
      'guard.out.minutes': '已外出 {n} 分钟',
      'guard.out.close': '关闭',
      'guard.tap': '点击任意处继续，或直接扫下一张',
      'guard.live': '扫码器',

      // answers
      'answer.allow': '可以通行',
      'answer.deny': '禁止通行',
      'answer.refer': '请留观',
      'answer.refer.sub': '发热返回：请原地等候医护人员',
      'answer.unavailable': '记录不可用',
      'answer.unavailable.sub': '不要放任何人通过！请联系社区检查设备',
      'answer.offline': '连不上门岗服务',
      'answer.offline.sub': '不要放任何人通过！请检查网络或设备',
      'answer.bad_input': '无法查验',
      'answer.dir.out': '出门',
      'answer.dir.in': '进门',
      'answer.unknown_person': '身份不明',
      'answer.temp': '体温 {t} °C',
      'answer.temp.none': '未测体温',
      'answer.source.serial': '体温计',
      'answer.source.i2c': '体温计',
      'answer.source.manual': '手工录入',
      'answer.category': '类别：{c}',
      'answer.usage': '本户{p}天内已外出 {u}/{a} 次',
      'answer.members_out': '本户在外：{names}',
      'answer.members_out.none': '本户无人在外',
      'answer.pass': '通行证 {id}',

      // reasons
      'reason.invalid_pass': '通行证无效或伪造',
      'reason.wrong_community': '不是本社区的通行证',
      'reason.unknown_pass': '查无此通行证',
      'reason.revoked': '通行证已注销',
      'reason.expired': '通行证已过期',
      'reason.not_yet_valid': '通行证尚未生效',
      'reason.quarantined': '隔离管控人员，不能外出',
      'reason.no_temperature': '未测体温，请先测温',
      'reason.fever': '体温超标（发热）',
      'reason.household_member_out': '本户已有人在外',
      'reason.household_quota': '本户本期外出次数已用完',
      'reason.outside_hours': '不在允许外出的时间内',
      'reason.already_out': '此人已登记外出，未登记返回',

      // warnings
      'warning.overdue': '外出超时返回',
      'warning.no_exit_recorded': '没有外出记录（请核实）',
      'warning.typed_pass_number': '手输通行证号：请仔细核对本人相貌',
      'warning.clock_suspect': '门岗时钟可疑，时间可能不准',
      'warning.backfilled': '补录记录',

      // categories
      'category.normal': '正常',
      'category.home_quarantine': '居家隔离',
      'category.isolated': '集中隔离',
      'category.confirmed': '确诊',
      'category.suspected': '疑似',
      'category.fever': '发热',
      'category.close_contact': '密切接触',
      'category.essential': '保障人员',

      // committee page
      'committee.title': '社区管理',
      'tab.register': '住户登记',
      'tab.passes': '通行证',
      'tab.rules': '规则',
      'tab.out': '在外人员',
      'tab.alerts': '预警',
      'tab.audit': '审计',
      'tab.tokens': '令牌',

      'register.upload.title': '导入登记表（CSV）',
      'register.upload.hint': '表头可用中文或英文：户号、地址、网格、姓名、电话、类别。重复导入不会改变任何数据。',
      'register.upload.file': '选择 CSV 文件',
      'register.upload.submit': '上传导入',
      'register.upload.nofile': '请先选择文件',
      'register.result': '新增 {added}，更新 {updated}，未变 {unchanged}，拒绝 {rejected}',
      'register.rejection': '第 {line} 行：{reason}',
      'register.summary': '共 {h} 户，{r} 人',
      'register.filter': '按户号或姓名筛选',
      'col.household': '户号',
      'col.address': '地址',
      'col.grid': '网格',
      'col.name': '姓名',
      'col.phone': '电话',
      'col.category': '类别',
      'col.until': '截止日期',
      'col.action': '操作',
      'col.pass_id': '通行证号',
      'col.valid': '有效期',
      'col.status': '状态',
      'col.since': '外出时间',
      'col.minutes': '分钟',
      'col.at': '时间',
      'col.decision': '结果',
      'col.direction': '方向',
      'col.reasons': '原因',
      'col.temp': '体温',
      'col.actor': '操作人',
      'col.detail': '详情',
      'col.role': '角色',
      'col.token_name': '名称',
      'col.created': '创建时间',
      'col.id': '编号',

      'passes.issue.title': '签发通行证',
      'passes.issue.all': '全部住户',
      'passes.issue.household': '单户',
      'passes.issue.household_code': '户号',
      'passes.issue.from': '生效日期',
      'passes.issue.days': '有效天数',
      'passes.issue.submit': '签发',
      'passes.issue.done': '已签发 {n} 张通行证',
      'passes.issue.need_household': '请填写户号',
      'passes.sheet': '打印卡片（全部有效通行证）',
      'passes.sheet.household': '打印本户卡片',
      'passes.list.title': '通行证列表',
      'passes.filter': '按户号、姓名或证号筛选',
      'passes.active': '有效',
      'passes.revoked': '已注销：{reason}',
      'passes.revoke': '注销',
      'passes.revoke.reason': '注销原因（如：遗失）',
      'passes.revoke.confirm': '确认注销',
      'passes.revoke.need_reason': '请填写注销原因',
      'passes.count': '共 {n} 张，其中有效 {a} 张',

      'rules.title': '通行规则',
      'rules.fever_c': '发热线（°C）',
      'rules.max_members_out': '每户同时外出人数上限',
      'rules.outings_per_period': '每期外出次数',
      'rules.period_days': '每期天数',
      'rules.hours': '允许外出时间（如 06:00-20:00）',
      'rules.max_outing_minutes': '单次外出最长分钟数',
      'rules.require_temperature': '需要测温',
      'rules.require.both': '出入都测',
      'rules.require.out': '只在出门时',
      'rules.require.in': '只在进门时',
      'rules.require.none': '不测',
      'rules.timezone': '时区',
      'rules.anti_passback': '防重复外出（已外出者不能再出）',
      'rules.saved': '规则已保存',

      'out.title': '在外人员',
      'out.summary': '在外 {n} 人，超时 {o} 人（超过 {m} 分钟）',
      'out.overdue': '超时',
      'out.empty': '目前没有人在外',

      'alerts.title': '预警（发热、留观、隔离人员试图外出、伪造通行证）',
      'alerts.empty': '暂无预警',
      'audit.title': '操作记录',
      'audit.empty': '暂无记录',

      'tokens.title': '接口令牌',
      'tokens.create': '新建令牌',
      'tokens.name': '名称（如：东门平板）',
      'tokens.created': '新令牌只显示这一次，请立即复制保存：',
      'tokens.revoke': '吊销',
      'tokens.revoked': '已吊销',
      'tokens.active': '有效',
      'tokens.empty': '暂无令牌',
      'role.guard': '保安',
      'role.committee': '社区',
      'role.district': '街道/区',

      'decision.allow': '通行',
      'decision.deny': '禁止',
      'decision.refer': '留观',
    },

    en: {
      'app.name': 'gatepass',
      'lang.switch': '中文',
      'nav.logout': 'Log out',
      'common.loading': 'Loading…',
      'common.save': 'Save',
      'common.saved': 'Saved',
      'common.refresh': 'Refresh',
      'common.none': 'none',
      'common.yes': 'yes',
      'common.no': 'no',
      'common.cancel': 'Cancel',
      'common.error': 'Error: {msg}',
      'common.offline': 'Cannot reach the gate service; check the network',
      'common.forbidden': 'Your role may not do this',
      'common.cross_origin': 'Refused: this request did not come from this gate\'s own page; reload the page and try again',
      'common.too_large': 'The file is too large; split it and upload the parts',

      'login.title': 'Log in',
      'login.name': 'Name',
      'login.password': 'Password or PIN',
      'login.submit': 'Log in',
      'login.wrong': 'Wrong name or password',
      'login.limited': 'Too many attempts; wait a minute and try again',
      'login.hint': 'Guards use their PIN, committee staff their password',

      'guard.title': 'Gate scan',
      'guard.scan.label': 'Scan (or type a pass number and press Enter)',
      'guard.scan.placeholder': 'Scan the QR pass',
      'guard.camera': 'Scan with camera',
      'guard.camera.stop': 'Close camera',
      'guard.camera.error': 'Cannot open the camera: {msg}',
      'guard.camera.hint': 'Hold the QR code inside the frame',
      'guard.dir.label': 'Direction',
      'guard.dir.auto': 'Auto',
      'guard.dir.out': 'Out',
      'guard.dir.in': 'In',
      'guard.temp.label': 'Temperature °C (if measured by hand)',
      'guard.temp.placeholder': 'e.g. 36.5',
      'guard.passno.label': 'Pass number, if the code will not scan',
      'guard.passno.placeholder': '8 digits',
      'guard.passno.submit': 'Check',
      'guard.state.thermometer': 'Thermometer',
      'guard.state.log': 'Log',
      'guard.state.clock': 'Clock',
      'guard.state.ok': 'OK',
      'guard.state.simulated': 'simulated',
      'guard.state.off': 'none',
      'guard.state.down': 'FAULT',
      'guard.state.unknown': 'unknown',
      'guard.state.log_bad': 'NOT WRITABLE',
      'guard.state.clock_suspect': 'suspect',
      'guard.out.count': '{n} out',
      'guard.out.overdue': '{n} overdue',
      'guard.out.title': 'Out now',
      'guard.out.empty': 'Nobody is out',
      'guard.out.minutes': 'out {n} min',
      'guard.out.close': 'Close',
      'guard.tap': 'Tap anywhere to continue, or scan the next pass',
      'guard.live': 'scanner',

      'answer.allow': 'ALLOW',
      'answer.deny': 'DENY',
      'answer.refer': 'REFER',
      'answer.refer.sub': 'Fever on return: keep the person here for the medical team',
      'answer.unavailable': 'LOG UNAVAILABLE',
      'answer.unavailable.sub': 'Do not let anyone through! Call the committee to check the device',
      'answer.offline': 'GATE UNREACHABLE',
      'answer.offline.sub': 'Do not let anyone through! Check the network or the device',
      'answer.bad_input': 'CANNOT CHECK',
      'answer.dir.out': 'Going out',
      'answer.dir.in': 'Coming in',
      'answer.unknown_person': 'Unknown person',
      'answer.temp': 'Temperature {t} °C',
      'answer.temp.none': 'No temperature',
      'answer.source.serial': 'thermometer',
      'answer.source.i2c': 'thermometer',
      'answer.source.manual': 'typed in',
      'answer.category': 'Category: {c}',
      'answer.usage': 'Household outings in {p} days: {u}/{a}',
      'answer.members_out': 'Out from this household: {names}',
      'answer.members_out.none': 'Nobody of this household is out',
      'answer.pass': 'Pass {id}',

      'reason.invalid_pass': 'Invalid or forged pass',
      'reason.wrong_community': 'Pass of another community',
      'reason.unknown_pass': 'Unknown pass',
      'reason.revoked': 'Pass revoked',
      'reason.expired': 'Pass expired',
      'reason.not_yet_valid': 'Pass not valid yet',
      'reason.quarantined': 'Under quarantine: may not go out',
      'reason.no_temperature': 'No temperature: measure first',
      'reason.fever': 'Fever',
      'reason.household_member_out': 'Another household member is out',
      'reason.household_quota': 'Household used its outings for this period',
      'reason.outside_hours': 'Outside outing hours',
      'reason.already_out': 'Already out (no return recorded)',

      'warning.overdue': 'Came back overdue',
      'warning.no_exit_recorded': 'No exit recorded (check)',
      'warning.typed_pass_number': 'Typed pass number: compare the face carefully',
      'warning.clock_suspect': 'Gate clock is suspect; times may be wrong',
      'warning.backfilled': 'Backfilled entry',

      'category.normal': 'normal',
      'category.home_quarantine': 'home quarantine',
      'category.isolated': 'central isolation',
      'category.confirmed': 'confirmed case',
      'category.suspected': 'suspected case',
      'category.fever': 'fever',
      'category.close_contact': 'close contact',
      'category.essential': 'essential worker',

      'committee.title': 'Committee',
      'tab.register': 'Register',
      'tab.passes': 'Passes',
      'tab.rules': 'Rules',
      'tab.out': 'Out now',
      'tab.alerts': 'Alerts',
      'tab.audit': 'Audit',
      'tab.tokens': 'Tokens',

      'register.upload.title': 'Import the register (CSV)',
      'register.upload.hint': 'Headers in Chinese or English: household, address, grid, name, phone, category. Importing the same file again changes nothing.',
      'register.upload.file': 'Choose a CSV file',
      'register.upload.submit': 'Upload',
      'register.upload.nofile': 'Choose a file first',
      'register.result': 'Added {added}, updated {updated}, unchanged {unchanged}, rejected {rejected}',
      'register.rejection': 'Line {line}: {reason}',
      'register.summary': '{h} households, {r} residents',
      'register.filter': 'Filter by household or name',
      'col.household': 'Household',
      'col.address': 'Address',
      'col.grid': 'Grid',
      'col.name': 'Name',
      'col.phone': 'Phone',
      'col.category': 'Category',
      'col.until': 'Until',
      'col.action': 'Action',
      'col.pass_id': 'Pass no.',
      'col.valid': 'Valid',
      'col.status': 'Status',
      'col.since': 'Out since',
      'col.minutes': 'Minutes',
      'col.at': 'Time',
      'col.decision': 'Decision',
      'col.direction': 'Direction',
      'col.reasons': 'Reasons',
      'col.temp': 'Temp.',
      'col.actor': 'By',
      'col.detail': 'Detail',
      'col.role': 'Role',
      'col.token_name': 'Name',
      'col.created': 'Created',
      'col.id': 'ID',

      'passes.issue.title': 'Issue passes',
      'passes.issue.all': 'All households',
      'passes.issue.household': 'One household',
      'passes.issue.household_code': 'Household',
      'passes.issue.from': 'Valid from',
      'passes.issue.days': 'Valid days',
      'passes.issue.submit': 'Issue',
      'passes.issue.done': '{n} passes issued',
      'passes.issue.need_household': 'Enter the household code',
      'passes.sheet': 'Print cards (all active passes)',
      'passes.sheet.household': "Print this household's cards",
      'passes.list.title': 'Passes',
      'passes.filter': 'Filter by household, name or pass number',
      'passes.active': 'active',
      'passes.revoked': 'revoked: {reason}',
      'passes.revoke': 'Revoke',
      'passes.revoke.reason': 'Reason (e.g. lost)',
      'passes.revoke.confirm': 'Confirm revoke',
      'passes.revoke.need_reason': 'Give a reason',
      'passes.count': '{n} passes, {a} active',

      'rules.title': 'Outing rules',
      'rules.fever_c': 'Fever line (°C)',
      'rules.max_members_out': 'Household members out at once',
      'rules.outings_per_period': 'Outings per period',
      'rules.period_days': 'Period (days)',
      'rules.hours': 'Outing hours (e.g. 06:00-20:00)',
      'rules.max_outing_minutes': 'Longest outing (minutes)',
      'rules.require_temperature': 'Temperature required',
      'rules.require.both': 'out and in',
      'rules.require.out': 'going out only',
      'rules.require.in': 'coming in only',
      'rules.require.none': 'never',
      'rules.timezone': 'Time zone',
      'rules.anti_passback': 'Anti-passback (someone out cannot go out again)',
      'rules.saved': 'Rules saved',

      'out.title': 'Out now',
      'out.summary': '{n} out, {o} overdue (over {m} minutes)',
      'out.overdue': 'overdue',
      'out.empty': 'Nobody is out',

      'alerts.title': 'Alerts (fever, hold, quarantined residents trying to leave, forged passes)',
      'alerts.empty': 'No alerts',
      'audit.title': 'Audit trail',
      'audit.empty': 'Nothing recorded',

      'tokens.title': 'API tokens',
      'tokens.create': 'Create token',
      'tokens.name': 'Name (e.g. east gate tablet)',
      'tokens.created': 'The new token is shown only this once; copy it now:',
      'tokens.revoke': 'Revoke',
      'tokens.revoked': 'revoked',
      'tokens.active': 'active',
      'tokens.empty': 'No tokens',
      'role.guard': 'guard',
      'role.committee': 'committee',
      'role.district': 'district',

      'decision.allow': 'allow',
      'decision.deny': 'deny',
      'decision.refer': 'refer',
    },
  };

  const KEY = 'gatepass.lang';
  let lang = 'zh';
  try {
    if (localStorage.getItem(KEY) === 'en') lang = 'en';
  } catch (_) {
    /* storage may be blocked; Chinese it is */
  }
  const listeners = [];

  GP.lang = () => lang;

  // t('answer.usage', {p: 3, u: 1, a: 1}); an unknown key shows itself.
  GP.t = function (key, vars) {
    let s = DICT[lang][key];
    if (s === undefined) s = DICT.zh[key];
    if (s === undefined) return key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
    return s;
  };

  // Does the dictionary know this key? (for codes from the API)
  GP.has = (key) => DICT.zh[key] !== undefined;

  GP.applyI18n = function (root) {
    const r = root || document;
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    r.querySelectorAll('[data-i18n]').forEach((n) => (n.textContent = GP.t(n.dataset.i18n)));
    r.querySelectorAll('[data-i18n-placeholder]').forEach((n) => (n.placeholder = GP.t(n.dataset.i18nPlaceholder)));
    r.querySelectorAll('[data-i18n-title]').forEach((n) => (n.title = GP.t(n.dataset.i18nTitle)));
    r.querySelectorAll('[data-i18n-label]').forEach((n) => n.setAttribute('aria-label', GP.t(n.dataset.i18nLabel)));
  };

  GP.onLang = (fn) => listeners.push(fn);

  GP.setLang = function (l) {
    lang = l === 'en' ? 'en' : 'zh';
    try {
      localStorage.setItem(KEY, lang);
    } catch (_) {
      /* not remembered, still switched */
    }
    GP.applyI18n();
    listeners.forEach((fn) => fn(lang));
  };

  // Every page has a button with class "lang-switch".
  document.addEventListener('DOMContentLoaded', () => {
    GP.applyI18n();
    document.querySelectorAll('.lang-switch').forEach((b) =>
      b.addEventListener('click', () => GP.setLang(lang === 'zh' ? 'en' : 'zh'))
    );
  });
})();
