-- Admins manage accounts on the dashboard's users page, whose connections
-- use the write role. The account functions check names and roles with
-- app_user_problem, which the page calls first to name a wrong field.
GRANT EXECUTE ON FUNCTION public.app_user_problem(text, text) TO pumpdash_write, pumpdash_maint;
